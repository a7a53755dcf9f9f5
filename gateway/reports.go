package gateway

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/shardstock/shardstock/shard"
)

// reportRoutes registers the scatter-gather reports.
func (s *Server) reportRoutes(v1 *mux.Router) {}

// listCatalogue serves the category listing (GET /v1/products without sku).
func (s *Server) listCatalogue(r *http.Request) (int, any, error) {
	return 0, nil, shard.Errorf(shard.CodeValidation, "listing is not available yet")
}
