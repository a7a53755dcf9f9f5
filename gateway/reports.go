package gateway

import (
	"cmp"
	"context"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Report names, used as the `report` label of the reporting metrics.
const (
	reportSummary    = "summary"
	reportCategories = "categories"
	reportLowStock   = "low_stock"
	reportListing    = "listing"
)

// Page sizes of the low-stock report and the catalogue listing.
const (
	defaultReportLimit = 50
	maxReportLimit     = 1000
)

// reportAPI serves the scatter-gather reports and the low-stock alerts.
type reportAPI struct {
	cluster      *cluster.Client
	alertCursors alertCursorCodec
}

// totalsJSON are the merged stock figures of a set of products. Quantities are exact decimal
// sums over products of any scales.
type totalsJSON struct {
	Products   int64       `json:"products"`
	OnHand     decimalJSON `json:"on_hand"`
	Reserved   decimalJSON `json:"reserved"`
	Available  decimalJSON `json:"available"`
	LowStock   int64       `json:"low_stock"`
	OutOfStock int64       `json:"out_of_stock"`
}

type summaryJSON struct {
	totalsJSON
	AsOf string `json:"as_of"`
	cluster.Coverage
}

type categoryJSON struct {
	Category string `json:"category"`
	totalsJSON
}

type categoriesJSON struct {
	Categories []categoryJSON `json:"categories"`
	AsOf       string         `json:"as_of"`
	cluster.Coverage
}

// lowStockItemJSON is a product of the low-stock report: the product representation plus
// low_stock_gap = available - low_stock_threshold (<= 0; the more negative, the more urgent),
// the key the report is ordered by.
type lowStockItemJSON struct {
	productJSON
	LowStockGap quantityJSON `json:"low_stock_gap"`
}

type lowStockJSON struct {
	Products []lowStockItemJSON `json:"products"`
	AsOf     string             `json:"as_of"`
	cluster.Coverage
}

func (api *reportAPI) summary(r *request) (int, any, error) {
	partial, err := reportParams(r)
	if err != nil {
		return 0, nil, err
	}
	asOf := asOfNow()
	res, err := cluster.Scatter(r.Context(), api.cluster, reportSummary, partial, func(ctx context.Context, st *shard.Store, owned []int) ([]shard.Totals, error) {
		return st.StockSummary(ctx, owned)
	})
	if err != nil {
		return 0, nil, err
	}
	var acc stockTotals
	for _, a := range res.Answers {
		for _, t := range a.Value {
			acc.add(t)
		}
	}
	return http.StatusOK, summaryJSON{totalsJSON: acc.json(), AsOf: asOf, Coverage: res.Coverage}, nil
}

func (api *reportAPI) categories(r *request) (int, any, error) {
	partial, err := reportParams(r)
	if err != nil {
		return 0, nil, err
	}
	asOf := asOfNow()
	res, err := cluster.Scatter(r.Context(), api.cluster, reportCategories, partial, func(ctx context.Context, st *shard.Store, owned []int) ([]shard.CategoryTotals, error) {
		return st.CategoryStats(ctx, owned)
	})
	if err != nil {
		return 0, nil, err
	}
	byCategory := map[string]*stockTotals{}
	for _, a := range res.Answers {
		for _, t := range a.Value {
			acc := byCategory[t.Category]
			if acc == nil {
				acc = &stockTotals{}
				byCategory[t.Category] = acc
			}
			acc.add(t.Totals)
		}
	}
	out := categoriesJSON{Categories: make([]categoryJSON, 0, len(byCategory)), AsOf: asOf, Coverage: res.Coverage}
	for c, acc := range byCategory {
		out.Categories = append(out.Categories, categoryJSON{Category: c, totalsJSON: acc.json()})
	}
	// Byte order of UTF-8 is code point order, the order of the column's utf8mb4_bin collation.
	slices.SortFunc(out.Categories, func(a, b categoryJSON) int { return strings.Compare(a.Category, b.Category) })
	return http.StatusOK, out, nil
}

func (api *reportAPI) lowStock(r *request) (int, any, error) {
	params, err := listingParams(r, "limit", "category")
	if err != nil {
		return 0, nil, err
	}
	partial, limit, filter := params.partial, params.limit, params.filter
	asOf := asOfNow()
	// Each shard returns its own top `limit`; the global top `limit` is among their union.
	res, err := cluster.Scatter(r.Context(), api.cluster, reportLowStock, partial, func(ctx context.Context, st *shard.Store, owned []int) ([]shard.Product, error) {
		f := filter
		f.Partitions = owned
		return st.LowStock(ctx, f, limit)
	})
	if err != nil {
		return 0, nil, err
	}
	type ranked struct {
		p   shard.Product
		gap *big.Int // available - threshold in millionths: exact across scales
	}
	var all []ranked
	for _, a := range res.Answers {
		for _, p := range a.Value {
			all = append(all, ranked{p, inventory.Micros(big.NewInt(p.Available()-p.LowStockThreshold), p.Scale)})
		}
	}
	slices.SortFunc(all, func(a, b ranked) int {
		if c := a.gap.Cmp(b.gap); c != 0 {
			return c
		}
		return cmp.Compare(a.p.SKU, b.p.SKU)
	})
	out := lowStockJSON{Products: make([]lowStockItemJSON, 0, min(len(all), limit)), AsOf: asOf, Coverage: res.Coverage}
	for _, x := range all[:min(len(all), limit)] {
		out.Products = append(out.Products, lowStockItemJSON{toProductJSON(x.p),
			quantityJSON{x.p.Available() - x.p.LowStockThreshold, x.p.Scale}})
	}
	return http.StatusOK, out, nil
}

// stockTotals accumulates Totals of any scales exactly, in millionths (scale 6, the largest).
type stockTotals struct {
	products, lowStock, outOfStock int64
	onHand, reserved               big.Int
}

func (t *stockTotals) add(x shard.Totals) {
	t.products += x.Products
	t.lowStock += x.LowStock
	t.outOfStock += x.OutOfStock
	t.onHand.Add(&t.onHand, inventory.Micros(x.OnHand, x.Scale))
	t.reserved.Add(&t.reserved, inventory.Micros(x.Reserved, x.Scale))
}

func (t *stockTotals) json() totalsJSON {
	avail := new(big.Int).Sub(&t.onHand, &t.reserved)
	return totalsJSON{Products: t.products, OnHand: decimalJSON{new(big.Int).Set(&t.onHand)},
		Reserved: decimalJSON{new(big.Int).Set(&t.reserved)}, Available: decimalJSON{avail},
		LowStock: t.lowStock, OutOfStock: t.outOfStock}
}

// decimalJSON prints a quantity held in millionths as an exact JSON number without trailing
// fractional zeros ("12.5", "3", "-0.000001"). Sums can exceed int64, hence big.Int.
type decimalJSON struct{ micros *big.Int }

// MarshalJSON prints the exact decimal as a number token.
func (d decimalJSON) MarshalJSON() ([]byte, error) {
	return []byte(inventory.FormatMicros(d.micros)), nil
}

func asOfNow() string { return time.Now().UTC().Format(time.RFC3339Nano) }
