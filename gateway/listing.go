package gateway

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// catalogueJSON is a page of the catalogue listing. NextCursor is null on the last page.
type catalogueJSON struct {
	Products   []productJSON `json:"products"`
	NextCursor *string       `json:"next_cursor"`
	cluster.Coverage
}

// catalogue serves the catalogue listing: GET /v1/products?category=C&limit=N&cursor=X.
// Every shard returns its first limit+1 owned products after the cursor in SKU order; the
// gateway merges them by SKU and keeps the first limit. More than limit rows in the union means
// there is a next page (the cursor is the last SKU returned); at most limit means every shard
// is exhausted, and next_cursor is null.
func (api *productAPI) catalogue(r *request) (int, any, error) {
	params, err := listingParams(r, "category", "limit", "cursor")
	if err != nil {
		return 0, nil, err
	}
	partial, limit, filter := params.partial, params.limit, params.filter
	after := ""
	if r.URL.Query().Has("cursor") {
		if after, err = api.cursors.open(r.URL.Query().Get("cursor"), filter); err != nil {
			return 0, nil, err
		}
	}
	res, err := cluster.Scatter(r.Context(), api.cluster, reportListing, partial, func(ctx context.Context, st *shard.Store, owned []int) ([]shard.Product, error) {
		f := filter
		f.Partitions = owned
		return st.ProductPage(ctx, f, after, limit+1)
	})
	if err != nil {
		return 0, nil, err
	}
	var all []shard.Product
	for _, a := range res.Answers {
		all = append(all, a.Value...)
	}
	slices.SortFunc(all, func(a, b shard.Product) int { return cmp.Compare(a.SKU, b.SKU) })
	out := catalogueJSON{Products: make([]productJSON, 0, min(len(all), limit)), Coverage: res.Coverage}
	for _, p := range all[:min(len(all), limit)] {
		out.Products = append(out.Products, toProductJSON(p))
	}
	if len(all) > limit {
		c := api.cursors.seal(all[limit-1].SKU, filter)
		out.NextCursor = &c
	}
	return http.StatusOK, out, nil
}

// cursorCodec makes listing cursors opaque and tamper-safe: a cursor is
// base64url(version | last SKU | HMAC-SHA256(key, version | category binding | last SKU)[:16]).
// The MAC binds the cursor to the category filter it was issued for, so it cannot be edited to
// skip ahead nor replayed with another filter; either answers 422 validation_failed.
//
// The key must be the same on every gateway of a cluster and is not configured separately: it
// is SHA-256 over the cluster's random "cursor-hmac" secret, kept in the metadata store
// (shard.Meta.Secret), and the cluster's partition count. Cursors therefore stay valid across
// gateways and restarts, and cannot be forged by anyone who does not hold the secret. They
// carry no expiry: a cursor is a position, not a permission.
type cursorCodec struct{ key []byte }

const cursorVersion = 1

// newCursorCodec derives the cursor key from the cluster's secret and the partition count.
func newCursorCodec(secret []byte, partitions int) cursorCodec {
	h := sha256.New()
	h.Write([]byte("shardstock listing cursor v2\x00"))
	h.Write(secret)
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(partitions)))
	return cursorCodec{key: h.Sum(nil)}
}

func (c cursorCodec) mac(sku string, f shard.ReportFilter) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte{cursorVersion})
	if f.Category == nil {
		m.Write([]byte{0})
	} else {
		m.Write([]byte{1})
		m.Write([]byte(strconv.Itoa(len(*f.Category))))
		m.Write([]byte{':'})
		m.Write([]byte(*f.Category))
	}
	m.Write([]byte(sku))
	return m.Sum(nil)[:16]
}

// seal returns the cursor that continues after sku.
func (c cursorCodec) seal(sku string, f shard.ReportFilter) string {
	buf := append([]byte{cursorVersion}, sku...)
	buf = append(buf, c.mac(sku, f)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// open checks a cursor against the filter and returns the SKU it continues after.
func (c cursorCodec) open(cursor string, f shard.ReportFilter) (string, error) {
	bad := inventory.Validation("cursor", "cursor is invalid or was issued for another listing; start again without a cursor")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) < 1+1+16 || raw[0] != cursorVersion {
		return "", bad
	}
	sku, sum := string(raw[1:len(raw)-16]), raw[len(raw)-16:]
	if !hmac.Equal(sum, c.mac(sku, f)) || inventory.ValidateSKU(sku) != nil {
		return "", bad
	}
	return sku, nil
}
