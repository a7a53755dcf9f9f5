package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/shardstock/shardstock/gateway/saga"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

const (
	maxReservationLines = 500
	maxTTLSeconds       = 86400
)

type reservationLineJSON struct {
	SKU      string       `json:"sku"`
	Quantity jsonQuantity `json:"quantity"`
}

type createReservationRequest struct {
	OrderID    *string               `json:"order_id"`
	Lines      []reservationLineJSON `json:"lines"`
	TTLSeconds *int64                `json:"ttl_seconds"`
	Commit     *bool                 `json:"commit"`
}

// reservationJSON is the contract's reservation representation.
type reservationJSON struct {
	ID        string           `json:"id"`
	OrderID   string           `json:"order_id"`
	Status    inventory.Status `json:"status"`
	ExpiresAt string           `json:"expires_at"`
	CreatedAt string           `json:"created_at"`
	Lines     []lineOutJSON    `json:"lines"`
}

type lineOutJSON struct {
	SKU      string    `json:"sku"`
	Quantity rawNumber `json:"quantity"`
}

// rawNumber is an exact decimal already printed.
type rawNumber string

// MarshalJSON prints the number token as is.
func (n rawNumber) MarshalJSON() ([]byte, error) { return []byte(n), nil }

func toReservationJSON(h shard.Header) reservationJSON {
	out := reservationJSON{ID: h.ID, OrderID: h.OrderID, Status: saga.PublicStatus(h.Status),
		ExpiresAt: h.ExpiresAt.UTC().Format(time.RFC3339Nano), CreatedAt: h.CreatedAt.UTC().Format(time.RFC3339Nano),
		Lines: make([]lineOutJSON, len(h.Lines))}
	for i, l := range h.Lines {
		out.Lines[i] = lineOutJSON{SKU: l.SKU, Quantity: rawNumber(l.Quantity.String())}
	}
	return out
}

func (s *Server) createReservation(r *http.Request, body []byte) (int, any, error) {
	var req createReservationRequest
	if err := decodeStrict(body, &req); err != nil {
		return 0, nil, err
	}
	if req.OrderID == nil {
		return 0, nil, inventory.Validation("order_id", "order_id is required")
	}
	if err := checkText("order_id", *req.OrderID, 1, 128); err != nil {
		return 0, nil, err
	}
	if len(req.Lines) == 0 {
		return 0, nil, inventory.Validation("lines", "lines must not be empty")
	}
	if len(req.Lines) > maxReservationLines {
		return 0, nil, inventory.Validation("lines", "at most %d lines are allowed", maxReservationLines)
	}
	ttl := s.cfg.Reservation.DefaultTTL
	if req.TTLSeconds != nil {
		if *req.TTLSeconds < 1 || *req.TTLSeconds > maxTTLSeconds {
			return 0, nil, inventory.Validation("ttl_seconds", "ttl_seconds must be 1-%d", maxTTLSeconds)
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}
	lines := make([]shard.LineRequest, len(req.Lines))
	seen := map[string]bool{}
	for i, l := range req.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		if err := inventory.ValidateSKU(l.SKU); err != nil {
			return 0, nil, fieldError(field+".sku", err)
		}
		if seen[l.SKU] {
			return 0, nil, inventory.Validation(field+".sku", "sku %q appears more than once", l.SKU)
		}
		seen[l.SKU] = true
		if !l.Quantity.set {
			return 0, nil, inventory.Validation(field+".quantity", "%s.quantity is required", field)
		}
		d, err := l.Quantity.decimal(field + ".quantity")
		if err != nil {
			return 0, nil, err
		}
		if err := mustPositive(field+".quantity", d); err != nil {
			return 0, nil, err
		}
		lines[i] = shard.LineRequest{SKU: l.SKU, Partition: s.cluster.PartitionOf(l.SKU), Quantity: d, Requested: d.String()}
	}
	out, err := s.saga.Reserve(r.Context(), saga.Request{OrderID: *req.OrderID, Lines: lines, TTL: ttl,
		Commit: req.Commit != nil && *req.Commit, Marker: markerFrom(r.Context())})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, toReservationJSON(out), nil
}

func (s *Server) getReservation(r *http.Request, _ []byte) (int, any, error) {
	h, err := s.saga.Get(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toReservationJSON(h), nil
}

func (s *Server) commitReservation(r *http.Request, body []byte) (int, any, error) {
	if err := emptyBody(body); err != nil {
		return 0, nil, err
	}
	h, err := s.saga.Commit(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toReservationJSON(h), nil
}

func (s *Server) releaseReservation(r *http.Request, body []byte) (int, any, error) {
	if err := emptyBody(body); err != nil {
		return 0, nil, err
	}
	h, err := s.saga.Release(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toReservationJSON(h), nil
}

// emptyBody accepts no body or an empty JSON object (commit and release take no fields).
func emptyBody(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var none struct{}
	return decodeStrict(body, &none)
}
