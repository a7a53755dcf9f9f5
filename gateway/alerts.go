package gateway

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// reportAlerts is the `report` label of the alert listing's scatter-gather metrics.
const reportAlerts = "alerts"

// alertJSON is the contract's alert representation. available and low_stock_threshold are the
// product's current figures, exact in its scale; available_at_open is what it was when the
// alert opened.
type alertJSON struct {
	ID                string                `json:"id"`
	SKU               string                `json:"sku"`
	Category          string                `json:"category"`
	Kind              inventory.AlertKind   `json:"kind"`
	Status            inventory.AlertStatus `json:"status"`
	Available         quantityJSON          `json:"available"`
	LowStockThreshold quantityJSON          `json:"low_stock_threshold"`
	AvailableAtOpen   quantityJSON          `json:"available_at_open"`
	OpenedAt          string                `json:"opened_at"`
	AcknowledgedAt    *string               `json:"acknowledged_at"`
	ResolvedAt        *string               `json:"resolved_at"`
}

func toAlertJSON(a shard.Alert) alertJSON {
	return alertJSON{
		ID: a.ID, SKU: a.SKU, Category: a.Category, Kind: a.Kind, Status: a.Status,
		Available:         quantityJSON{max(a.Available, 0), a.Scale},
		LowStockThreshold: quantityJSON{a.LowStockThreshold, a.Scale},
		AvailableAtOpen:   quantityJSON{a.AvailableAtOpen, a.ScaleAtOpen},
		OpenedAt:          alertTime(a.OpenedAt),
		AcknowledgedAt:    alertTimePtr(a.AcknowledgedAt),
		ResolvedAt:        alertTimePtr(a.ResolvedAt),
	}
}

func alertTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func alertTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := alertTime(*t)
	return &s
}

// alertPageJSON is a page of the alert listing. NextCursor is null on the last page.
type alertPageJSON struct {
	Alerts     []alertJSON `json:"alerts"`
	NextCursor *string     `json:"next_cursor"`
	cluster.Coverage
}

// listAlerts serves GET /v1/alerts?status=S&category=C&limit=N&cursor=X, most urgent first:
// out_of_stock before low_stock, then available - low_stock_threshold ascending (exact across
// scales), then SKU, then id. Every shard returns its first limit+1 owned alerts after the
// cursor in that order; the gateway merges them and keeps the first limit, exactly like the
// catalogue listing (more than limit rows in the union means there is a next page). Coverage
// and ?partial follow the reports. The order uses current stock, so an alert whose stock moves
// between two pages may be seen twice or not at all: pages are a position, not a snapshot.
func (api *reportAPI) listAlerts(r *request) (int, any, error) {
	params, err := listingParams(r, "status", "category", "limit", "cursor")
	if err != nil {
		return 0, nil, err
	}
	partial, limit := params.partial, params.limit
	filter := shard.AlertFilter{Statuses: params.statuses, Category: params.filter.Category}
	codec := api.alertCursors
	var after *shard.AlertPosition
	if r.URL.Query().Has("cursor") {
		pos, err := codec.open(r.URL.Query().Get("cursor"), filter)
		if err != nil {
			return 0, nil, err
		}
		after = &pos
	}
	res, err := cluster.Scatter(r.Context(), api.cluster, reportAlerts, partial, func(ctx context.Context, st *shard.Store, _ []int) ([]shard.Alert, error) {
		return st.AlertPage(ctx, filter, after, limit+1)
	})
	if err != nil {
		return 0, nil, err
	}
	type ranked struct {
		a   shard.Alert
		pos shard.AlertPosition
		gap *big.Int
	}
	var all []ranked
	for _, ans := range res.Answers {
		for _, a := range ans.Value {
			gap := inventory.Micros(big.NewInt(a.Available-a.LowStockThreshold), a.Scale)
			all = append(all, ranked{a, shard.AlertPosition{Rank: shard.AlertRank(a.Kind), GapMicros: gap.String(), SKU: a.SKU, ID: a.ID}, gap})
		}
	}
	slices.SortFunc(all, func(x, y ranked) int {
		if c := cmp.Compare(x.pos.Rank, y.pos.Rank); c != 0 {
			return c
		}
		if c := x.gap.Cmp(y.gap); c != 0 {
			return c
		}
		if c := cmp.Compare(x.pos.SKU, y.pos.SKU); c != 0 {
			return c
		}
		return cmp.Compare(x.pos.ID, y.pos.ID)
	})
	out := alertPageJSON{Alerts: make([]alertJSON, 0, min(len(all), limit)), Coverage: res.Coverage}
	for _, x := range all[:min(len(all), limit)] {
		out.Alerts = append(out.Alerts, toAlertJSON(x.a))
	}
	if len(all) > limit {
		c := codec.seal(all[limit-1].pos, filter)
		out.NextCursor = &c
	}
	return http.StatusOK, out, nil
}

// acknowledgeAlert serves POST /v1/alerts/{id}/acknowledge: 200 with the alert (also when it
// was acknowledged before), 404 for an unknown id, 409 invalid_state for a resolved alert.
func (api *reportAPI) acknowledgeAlert(r *request) (int, any, error) {
	if err := emptyBody(r.body); err != nil {
		return 0, nil, err
	}
	id := r.pathVar("id")
	p, ok := shard.AlertPartition(id)
	if !ok || p >= api.cluster.Current().Partitions() {
		return 0, nil, inventory.Errorf(inventory.CodeNotFound, "alert %q not found", id)
	}
	var a shard.Alert
	err := api.cluster.OnPartition(r.Context(), "alert_acknowledge", p, func(st *shard.Store) error {
		var err error
		a, err = st.AcknowledgeAlert(r.Context(), id, p)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toAlertJSON(a), nil
}

// alertCursorCodec makes alert listing cursors opaque and tamper-safe, like the catalogue's
// (cursorCodec, same key): base64url(JSON position | HMAC-SHA256(key, "alerts" | filter |
// JSON position)[:16]). The MAC binds the cursor to the status and category filter.
type alertCursorCodec struct{ key []byte }

func (c alertCursorCodec) mac(payload []byte, f shard.AlertFilter) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("alerts\x00"))
	statuses := make([]string, len(f.Statuses))
	for i, st := range f.Statuses {
		statuses[i] = string(st)
	}
	m.Write([]byte(strings.Join(statuses, ",")))
	m.Write([]byte{0})
	if f.Category != nil {
		m.Write([]byte{1})
		m.Write([]byte(*f.Category))
	}
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:16]
}

type alertCursorJSON struct {
	Rank int    `json:"r"`
	Gap  string `json:"g"`
	SKU  string `json:"s"`
	ID   string `json:"i"`
}

// seal returns the cursor that continues after pos.
func (c alertCursorCodec) seal(pos shard.AlertPosition, f shard.AlertFilter) string {
	payload, _ := json.Marshal(alertCursorJSON{pos.Rank, pos.GapMicros, pos.SKU, pos.ID})
	return base64.RawURLEncoding.EncodeToString(append(payload, c.mac(payload, f)...))
}

// open checks a cursor against the filter and returns the position it continues after.
func (c alertCursorCodec) open(cursor string, f shard.AlertFilter) (shard.AlertPosition, error) {
	bad := inventory.Validation("cursor", "cursor is invalid or was issued for another listing; start again without a cursor")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) < 17 {
		return shard.AlertPosition{}, bad
	}
	payload, sum := raw[:len(raw)-16], raw[len(raw)-16:]
	if !hmac.Equal(sum, c.mac(payload, f)) {
		return shard.AlertPosition{}, bad
	}
	var p alertCursorJSON
	if err := json.Unmarshal(payload, &p); err != nil {
		return shard.AlertPosition{}, bad
	}
	if _, ok := new(big.Int).SetString(p.Gap, 10); !ok {
		return shard.AlertPosition{}, bad
	}
	return shard.AlertPosition{Rank: p.Rank, GapMicros: p.Gap, SKU: p.SKU, ID: p.ID}, nil
}
