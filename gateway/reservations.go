package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/saga"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

const (
	maxReservationLines = 500
	maxTTLSeconds       = 86400
)

// reservationAPI serves reservations: it validates requests and hands them to the saga
// coordinator.
type reservationAPI struct {
	saga       *saga.Coordinator
	cluster    *cluster.Client
	defaultTTL time.Duration
}

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

func (api *reservationAPI) create(r *request) (int, any, error) {
	var req createReservationRequest
	if err := decodeStrict(r.body, &req); err != nil {
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
	ttl := api.defaultTTL
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
		lines[i] = shard.LineRequest{SKU: l.SKU, Partition: api.cluster.PartitionOf(l.SKU), Quantity: d, Requested: d.String()}
	}
	out, err := api.saga.Reserve(r.Context(), saga.Request{OrderID: *req.OrderID, Lines: lines, TTL: ttl,
		Commit: req.Commit != nil && *req.Commit, Marker: r.marker, Takeover: r.takeover})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, toReservationJSON(out), nil
}

func (api *reservationAPI) get(r *request) (int, any, error) {
	h, err := api.saga.Get(r.Context(), r.pathVar("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toReservationJSON(h), nil
}

func (api *reservationAPI) commit(r *request) (int, any, error) {
	return api.settle(r, api.saga.Commit)
}

func (api *reservationAPI) release(r *request) (int, any, error) {
	return api.settle(r, api.saga.Release)
}

// settle serves commit and release: no body (or {}), then the coordinator's verdict.
func (api *reservationAPI) settle(r *request, do func(ctx context.Context, id string) (shard.Header, error)) (int, any, error) {
	if err := emptyBody(r.body); err != nil {
		return 0, nil, err
	}
	h, err := do(r.Context(), r.pathVar("id"))
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
