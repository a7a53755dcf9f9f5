package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// productAPI serves products and their lots: creation and updates, stock changes, reads
// (through the read cache when it is on), the batch get, the catalogue listing and a product's
// history.
type productAPI struct {
	cluster *cluster.Client
	cache   *readCache // nil when off
	cursors cursorCodec
	history historyCodec
}

// productJSON is the contract's product representation.
type productJSON struct {
	SKU               string       `json:"sku"`
	Name              string       `json:"name"`
	Category          string       `json:"category"`
	Scale             int          `json:"scale"`
	OnHand            quantityJSON `json:"on_hand"`
	Reserved          quantityJSON `json:"reserved"`
	Available         quantityJSON `json:"available"`
	LowStockThreshold quantityJSON `json:"low_stock_threshold"`
	Version           int64        `json:"version"`
	UpdatedAt         string       `json:"updated_at"`
}

func toProductJSON(p shard.Product) productJSON {
	return productJSON{
		SKU: p.SKU, Name: p.Name, Category: p.Category, Scale: p.Scale,
		OnHand:            quantityJSON{p.OnHand, p.Scale},
		Reserved:          quantityJSON{p.Reserved, p.Scale},
		Available:         quantityJSON{max(p.Available(), 0), p.Scale},
		LowStockThreshold: quantityJSON{p.LowStockThreshold, p.Scale},
		Version:           p.Version,
		UpdatedAt:         p.UpdatedAt.UTC().Format(time.RFC3339Nano),
	}
}

// skuVar validates the {sku} path variable and returns it with its partition.
func (api *productAPI) skuVar(r *request) (string, int, error) {
	sku := r.pathVar("sku")
	if err := inventory.ValidateSKU(sku); err != nil {
		return "", 0, err
	}
	return sku, api.cluster.PartitionOf(sku), nil
}

type putProductRequest struct {
	Name              *string      `json:"name"`
	Category          *string      `json:"category"`
	Scale             *int         `json:"scale"`
	LowStockThreshold jsonQuantity `json:"low_stock_threshold"`
}

func (api *productAPI) put(r *request) (int, any, error) {
	sku, p, err := api.skuVar(r)
	if err != nil {
		return 0, nil, err
	}
	var req putProductRequest
	if err := decodeStrict(r.body, &req); err != nil {
		return 0, nil, err
	}
	spec := shard.ProductSpec{SKU: sku, Partition: p, Marker: r.marker}
	if req.Name != nil {
		if err := checkText("name", *req.Name, 1, 255); err != nil {
			return 0, nil, err
		}
		spec.Name = req.Name
	}
	if req.Category != nil {
		if err := checkText("category", *req.Category, 0, 128); err != nil {
			return 0, nil, err
		}
		spec.Category = req.Category
	}
	if req.Scale != nil {
		if *req.Scale < 0 || *req.Scale > inventory.MaxScale {
			return 0, nil, inventory.Validation("scale", "scale must be 0-%d", inventory.MaxScale)
		}
		spec.Scale = req.Scale
	}
	if req.LowStockThreshold.set {
		d, err := req.LowStockThreshold.decimal("low_stock_threshold")
		if err != nil {
			return 0, nil, err
		}
		if d.Units < 0 {
			return 0, nil, inventory.Validation("low_stock_threshold", "low_stock_threshold must not be negative")
		}
		if req.Scale != nil {
			if _, err := d.BaseUnits(*req.Scale); err != nil {
				return 0, nil, fieldError("low_stock_threshold", err)
			}
		}
		spec.LowStockThreshold = &d
	}
	var prod shard.Product
	var created bool
	err = api.cluster.OnPartition(r.Context(), "put_product", p, func(st *shard.Store) error {
		var err error
		prod, created, err = st.PutProduct(r.Context(), spec)
		return err
	})
	if inventory.IsCode(err, inventory.CodeAlreadyApplied) {
		prod, err = api.read(r.Context(), sku, p)
	}
	if err != nil {
		return 0, nil, err
	}
	if created {
		return http.StatusCreated, toProductJSON(prod), nil
	}
	return http.StatusOK, toProductJSON(prod), nil
}

func (api *productAPI) read(ctx context.Context, sku string, p int) (shard.Product, error) {
	var prod shard.Product
	err := api.cluster.OnPartition(ctx, "get_product", p, func(st *shard.Store) error {
		var err error
		prod, err = st.GetProduct(ctx, sku, p)
		return err
	})
	return prod, err
}

func (api *productAPI) get(r *request) (int, any, error) {
	sku, p, err := api.skuVar(r)
	if err != nil {
		return 0, nil, err
	}
	if prod, ok := api.cache.get(sku); ok {
		return http.StatusOK, toProductJSON(prod), nil
	}
	fetched := time.Now()
	prod, err := api.read(r.Context(), sku, p)
	if err != nil {
		return 0, nil, err
	}
	api.cache.put(prod, fetched)
	return http.StatusOK, toProductJSON(prod), nil
}

type adjustmentRequest struct {
	Delta           jsonQuantity `json:"delta"`
	Reason          *string      `json:"reason"`
	ExpectedVersion *int64       `json:"expected_version"`
}

func (api *productAPI) adjust(r *request) (int, any, error) {
	sku, p, err := api.skuVar(r)
	if err != nil {
		return 0, nil, err
	}
	var req adjustmentRequest
	if err := decodeStrict(r.body, &req); err != nil {
		return 0, nil, err
	}
	if !req.Delta.set {
		return 0, nil, inventory.Validation("delta", "delta is required")
	}
	d, err := req.Delta.decimal("delta")
	if err != nil {
		return 0, nil, err
	}
	if d.Units == 0 {
		return 0, nil, inventory.Validation("delta", "delta must not be zero")
	}
	if req.Reason == nil {
		return 0, nil, inventory.Validation("reason", "reason is required: one of receive, return, correction, damage, count")
	}
	if !inventory.IsReason(inventory.ChangeKind(*req.Reason)) {
		return 0, nil, inventory.Validation("reason", "reason %q is not one of receive, return, correction, damage, count", *req.Reason)
	}
	return api.changeStock(r, shard.StockChange{SKU: sku, Partition: p, Delta: &d, Reason: inventory.ChangeKind(*req.Reason), ExpectedVersion: req.ExpectedVersion})
}

type setStockRequest struct {
	OnHand          jsonQuantity `json:"on_hand"`
	ExpectedVersion *int64       `json:"expected_version"`
	Reason          *string      `json:"reason"`
}

func (api *productAPI) setStock(r *request) (int, any, error) {
	sku, p, err := api.skuVar(r)
	if err != nil {
		return 0, nil, err
	}
	var req setStockRequest
	if err := decodeStrict(r.body, &req); err != nil {
		return 0, nil, err
	}
	if !req.OnHand.set {
		return 0, nil, inventory.Validation("on_hand", "on_hand is required")
	}
	d, err := req.OnHand.decimal("on_hand")
	if err != nil {
		return 0, nil, err
	}
	if d.Units < 0 {
		return 0, nil, inventory.Validation("on_hand", "on_hand must not be negative")
	}
	reason := inventory.KindCount
	if req.Reason != nil {
		if !inventory.IsReason(inventory.ChangeKind(*req.Reason)) {
			return 0, nil, inventory.Validation("reason", "reason %q is not one of receive, return, correction, damage, count", *req.Reason)
		}
		reason = inventory.ChangeKind(*req.Reason)
	}
	return api.changeStock(r, shard.StockChange{SKU: sku, Partition: p, OnHand: &d, Reason: reason, ExpectedVersion: req.ExpectedVersion})
}

func (api *productAPI) changeStock(r *request, c shard.StockChange) (int, any, error) {
	ctx := r.Context()
	c.Marker = r.marker
	if c.Marker != nil {
		c.Ref = "idem:" + shortHash(c.Marker)
	}
	var prod shard.Product
	err := api.cluster.OnPartition(ctx, "change_stock", c.Partition, func(st *shard.Store) error {
		var err error
		prod, err = st.ChangeStock(ctx, c)
		return err
	})
	if inventory.IsCode(err, inventory.CodeAlreadyApplied) {
		prod, err = api.read(ctx, c.SKU, c.Partition)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toProductJSON(prod), nil
}

// maxBatchSKUs bounds GET /v1/products?sku=….
const maxBatchSKUs = 500

type batchProductsJSON struct {
	Products []productJSON `json:"products"`
	Missing  []string      `json:"missing"`
}

// list serves GET /v1/products: the batch get by SKU, or the category listing.
func (api *productAPI) list(r *request) (int, any, error) {
	q := r.URL.Query()
	skus, hasSKU := q["sku"]
	if !hasSKU {
		return api.catalogue(r)
	}
	if len(q) > 1 {
		return 0, nil, inventory.Validation("sku", "sku cannot be combined with other parameters")
	}
	if len(skus) == 0 || len(skus) > maxBatchSKUs {
		return 0, nil, inventory.Validation("sku", "between 1 and %d sku parameters are required", maxBatchSKUs)
	}
	var order []string
	seen := map[string]bool{}
	for _, sku := range skus {
		if err := inventory.ValidateSKU(sku); err != nil {
			return 0, nil, err
		}
		if !seen[sku] {
			seen[sku] = true
			order = append(order, sku)
		}
	}
	lines := make([]shard.LineRequest, len(order))
	for i, sku := range order {
		lines[i] = shard.LineRequest{SKU: sku, Partition: api.cluster.PartitionOf(sku)}
	}
	found, err := api.cluster.Products(r.Context(), lines)
	if err != nil {
		return 0, nil, err
	}
	out := batchProductsJSON{Products: []productJSON{}, Missing: []string{}}
	for _, sku := range order {
		if p, ok := found[sku]; ok {
			out.Products = append(out.Products, toProductJSON(p))
		} else {
			out.Missing = append(out.Missing, sku)
		}
	}
	return http.StatusOK, out, nil
}
