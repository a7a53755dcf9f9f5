package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// keyPrefix starts every Idempotency-Key the loader sends; bump it when the catalogue changes so
// old keys do not answer new requests.
const keyPrefix = "demo-v1-"

// parallelism bounds the loader's concurrent requests.
const parallelism = 8

// Load creates the demo catalogue through the gateway at baseURL (e.g. http://127.0.0.1:8080):
// every product (PUT), its stock (POST adjustments, reason receive) and the demo reservations,
// printing progress lines to out. token is the API key sent as the bearer token (it needs the
// read, write and reserve scopes); "" sends none (a gateway with auth.mode none).
func Load(ctx context.Context, baseURL, token string, out io.Writer) error {
	start := time.Now()
	c := newClient(baseURL, token)
	products := Catalogue()
	fmt.Fprintf(out, "demo: loading %d products in %d categories into %s\n", len(products), len(categories(products)), c.base)

	var done atomic.Int64
	var mu sync.Mutex // serialises progress lines
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for _, p := range products {
		g.Go(func() error {
			if err := c.loadProduct(gctx, p); err != nil {
				return err
			}
			if n := done.Add(1); n%50 == 0 || int(n) == len(products) {
				mu.Lock()
				fmt.Fprintf(out, "demo: %d/%d products stocked\n", n, len(products))
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	held, committed := 0, 0
	for _, r := range Reservations() {
		if err := c.reserve(ctx, r); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if r.Commit {
			committed++
		} else {
			held++
		}
	}
	fmt.Fprintf(out, "demo: %d reservations (%d held, %d committed)\n", held+committed, held, committed)

	low, empty := 0, 0
	for _, p := range products {
		switch {
		case p.Receive == 0:
			empty++
		case p.Receive <= p.LowStockThreshold:
			low++
		}
	}
	fmt.Fprintf(out, "demo: done in %s: %d products, %d low on stock, %d out of stock\n",
		time.Since(start).Round(10*time.Millisecond), len(products), low, empty)
	return nil
}

// Loaded reports whether the demo catalogue is already in the cluster behind baseURL: whether
// its first product exists. token is as for Load.
func Loaded(ctx context.Context, baseURL, token string) (bool, error) {
	c := newClient(baseURL, token)
	var batch struct {
		Products []json.RawMessage `json:"products"`
	}
	path := "/v1/products?sku=" + url.QueryEscape(FirstSKU())
	if err := c.do(ctx, http.MethodGet, path, "", nil, &batch); err != nil {
		return false, err
	}
	return len(batch.Products) > 0, nil
}

func (c *client) loadProduct(ctx context.Context, p Product) error {
	path := "/v1/products/" + url.PathEscape(p.SKU)
	body := map[string]any{
		"name":                p.Name,
		"category":            p.Category,
		"scale":               p.Scale,
		"low_stock_threshold": json.Number(formatQuantity(p.LowStockThreshold, p.Scale)),
	}
	if err := c.do(ctx, http.MethodPut, path, keyPrefix+"product-"+p.SKU, body, nil); err != nil {
		return err
	}
	if p.Receive == 0 {
		return nil
	}
	adj := map[string]any{"delta": json.Number(formatQuantity(p.Receive, p.Scale)), "reason": "receive"}
	return c.do(ctx, http.MethodPost, path+"/adjustments", keyPrefix+"receive-"+p.SKU, adj, nil)
}

func (c *client) reserve(ctx context.Context, r Reservation) error {
	scales := map[string]int{}
	for _, p := range Catalogue() {
		scales[p.SKU] = p.Scale
	}
	lines := make([]map[string]any, len(r.Lines))
	for i, l := range r.Lines {
		lines[i] = map[string]any{"sku": l.SKU, "quantity": json.Number(formatQuantity(l.Quantity, scales[l.SKU]))}
	}
	body := map[string]any{"order_id": r.OrderID, "lines": lines, "ttl_seconds": 86400}
	var created struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/reservations", keyPrefix+"reserve-"+r.OrderID, body, &created); err != nil {
		return err
	}
	if !r.Commit {
		return nil
	}
	return c.do(ctx, http.MethodPost, "/v1/reservations/"+url.PathEscape(created.ID)+"/commit", keyPrefix+"commit-"+r.OrderID, nil, nil)
}

// client speaks the gateway's HTTP contract.
type client struct {
	base  string
	token string // API key; "" sends no Authorization header
	http  *http.Client
}

func newClient(baseURL, token string) *client {
	return &client{base: strings.TrimRight(baseURL, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

// apiError is the contract's error envelope.
type apiError struct {
	Error struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

// do sends one request (body encoded as JSON when not nil) and decodes a 2xx answer into out
// (when not nil); any other answer is an error naming the request and the contract's error code.
func (c *client) do(ctx context.Context, method, path, key string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e apiError
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}
