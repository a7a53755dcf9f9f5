package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// maxLotsListed bounds GET /v1/products/{sku}/lots.
const maxLotsListed = 1000

// lotJSON is the contract's lot representation, quantities in the product's scale.
type lotJSON struct {
	Lot        string       `json:"lot"`
	Received   quantityJSON `json:"received"`
	Remaining  quantityJSON `json:"remaining"`
	ExpiresAt  string       `json:"expires_at"`
	ReceivedAt string       `json:"received_at"`
	Expired    bool         `json:"expired"`
	// ExpiryConflict: expired quantity of this lot was needed by reserved stock.
	ExpiryConflict bool `json:"expiry_conflict"`
}

func toLotJSON(l shard.Lot, scale int) lotJSON {
	return lotJSON{Lot: l.Code, Received: quantityJSON{l.Received, scale}, Remaining: quantityJSON{l.Remaining, scale},
		ExpiresAt: l.ExpiresAt.UTC().Format(time.RFC3339Nano), ReceivedAt: l.ReceivedAt.UTC().Format(time.RFC3339Nano),
		Expired: l.Expired, ExpiryConflict: l.Conflict}
}

// lotReceiptJSON answers POST /v1/products/{sku}/lots: the lot and the product after the receipt.
type lotReceiptJSON struct {
	Lot     lotJSON     `json:"lot"`
	Product productJSON `json:"product"`
}

// lotListJSON answers GET /v1/products/{sku}/lots.
type lotListJSON struct {
	SKU       string       `json:"sku"`
	OnHand    quantityJSON `json:"on_hand"`
	Reserved  quantityJSON `json:"reserved"`
	Available quantityJSON `json:"available"`
	Lots      []lotJSON    `json:"lots"`
}

type receiveLotRequest struct {
	Lot       *string      `json:"lot"`
	Quantity  jsonQuantity `json:"quantity"`
	ExpiresAt *string      `json:"expires_at"`
}

// receiveLot serves POST /v1/products/{sku}/lots: 201 with a new lot, 200 when quantity was
// added to an existing lot with the same expiry; 409 invalid_state when the code exists with
// another expiry or the product holds stock outside lots.
func (api *productAPI) receiveLot(r *request) (int, any, error) {
	sku, p, err := api.skuVar(r)
	if err != nil {
		return 0, nil, err
	}
	var req receiveLotRequest
	if err := decodeStrict(r.body, &req); err != nil {
		return 0, nil, err
	}
	if req.Lot == nil {
		return 0, nil, inventory.Validation("lot", "lot is required")
	}
	if err := shard.ValidateLotCode(*req.Lot); err != nil {
		return 0, nil, err
	}
	if !req.Quantity.set {
		return 0, nil, inventory.Validation("quantity", "quantity is required")
	}
	qty, err := req.Quantity.decimal("quantity")
	if err != nil {
		return 0, nil, err
	}
	if err := mustPositive("quantity", qty); err != nil {
		return 0, nil, err
	}
	if req.ExpiresAt == nil {
		return 0, nil, inventory.Validation("expires_at", "expires_at is required")
	}
	expires, err := time.Parse(time.RFC3339Nano, *req.ExpiresAt)
	if err != nil {
		return 0, nil, inventory.Validation("expires_at", "expires_at must be an RFC 3339 timestamp")
	}
	if !expires.After(time.Now()) {
		return 0, nil, inventory.Validation("expires_at", "expires_at must be in the future")
	}
	ctx := r.Context()
	rc := shard.LotReceipt{SKU: sku, Partition: p, Code: *req.Lot, Quantity: qty, ExpiresAt: expires, Marker: r.marker}
	var prod shard.Product
	var lot shard.Lot
	var created bool
	err = api.cluster.OnPartition(ctx, "receive_lot", p, func(st *shard.Store) error {
		var err error
		prod, lot, created, err = st.ReceiveLot(ctx, rc)
		return err
	})
	if inventory.IsCode(err, inventory.CodeAlreadyApplied) {
		// Applied by an earlier attempt with this Idempotency-Key: answer with the current state.
		return api.replayLotReceipt(ctx, sku, p, rc.Code)
	}
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return status, lotReceiptJSON{toLotJSON(lot, prod.Scale), toProductJSON(prod)}, nil
}

func (api *productAPI) replayLotReceipt(ctx context.Context, sku string, p int, code string) (int, any, error) {
	prod, lots, err := api.readLots(ctx, sku, p, true)
	if err != nil {
		return 0, nil, err
	}
	for _, l := range lots {
		if l.Code == code {
			return http.StatusCreated, lotReceiptJSON{toLotJSON(l, prod.Scale), toProductJSON(prod)}, nil
		}
	}
	return 0, nil, inventory.Errorf(inventory.CodeNotFound, "lot %q of %q not found", code, sku)
}

func (api *productAPI) readLots(ctx context.Context, sku string, p int, includeEmpty bool) (shard.Product, []shard.Lot, error) {
	var prod shard.Product
	var lots []shard.Lot
	err := api.cluster.OnPartition(ctx, "list_lots", p, func(st *shard.Store) error {
		var err error
		prod, lots, err = st.ListLots(ctx, sku, p, includeEmpty, maxLotsListed)
		return err
	})
	return prod, lots, err
}

// listLots serves GET /v1/products/{sku}/lots[?include_empty=true]: the product's lots with
// stock (all lots with include_empty), earliest expiry first, with on_hand, reserved and
// available read in the same snapshot.
func (api *productAPI) listLots(r *request) (int, any, error) {
	sku, p, err := api.skuVar(r)
	if err != nil {
		return 0, nil, err
	}
	includeEmpty := false
	if v := r.URL.Query().Get("include_empty"); v != "" {
		if includeEmpty, err = strconv.ParseBool(v); err != nil {
			return 0, nil, inventory.Validation("include_empty", "include_empty must be true or false")
		}
	}
	prod, lots, err := api.readLots(r.Context(), sku, p, includeEmpty)
	if err != nil {
		return 0, nil, err
	}
	out := lotListJSON{SKU: prod.SKU, OnHand: quantityJSON{prod.OnHand, prod.Scale}, Reserved: quantityJSON{prod.Reserved, prod.Scale},
		Available: quantityJSON{max(prod.Available(), 0), prod.Scale}, Lots: make([]lotJSON, len(lots))}
	for i, l := range lots {
		out.Lots[i] = toLotJSON(l, prod.Scale)
	}
	return http.StatusOK, out, nil
}
