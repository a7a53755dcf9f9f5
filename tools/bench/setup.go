package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// batchSize is the most SKUs one GET /v1/products?sku=… may name.
const batchSize = 500

// setupCatalogue makes every SKU of the scenario exist with scale 0 and at least half of its
// target stock available, through the gateway: one batch read per 500 SKUs, then, in
// parallel, PUT /v1/products/{sku} for the missing ones and PUT …/stock for those short of
// stock. Running it again changes nothing.
func setupCatalogue(ctx context.Context, o Options, client *http.Client) (*SetupReport, error) {
	start := time.Now()
	skus := o.scenarioSKUs()
	onHand := int64(catalogueOnHand)
	if o.Scenario == ScenarioHot {
		onHand = hotOnHand
	}
	rep := &SetupReport{Products: len(skus)}
	type todo struct {
		sku      string
		create   bool
		reserved int64
	}
	var work []todo
	for startIdx := 0; startIdx < len(skus); startIdx += batchSize {
		batch := skus[startIdx:min(startIdx+batchSize, len(skus))]
		found, err := fetchBatch(ctx, o, client, batch)
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		for _, sku := range batch {
			p, ok := found[sku]
			switch {
			case !ok:
				work = append(work, todo{sku: sku, create: true})
			case p.Scale != 0:
				return nil, fmt.Errorf("setup: product %s exists with scale %d; the bench needs scale 0 (use another prefix)", sku, p.Scale)
			case p.available() < onHand/2:
				work = append(work, todo{sku: sku, reserved: p.reserved()})
			default:
				rep.Present++
			}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.SetupConcurrency)
	for _, w := range work {
		g.Go(func() error {
			base := o.Target + "/v1/products/" + w.sku
			if w.create {
				body := fmt.Sprintf(`{"name":"bench product %s","category":"bench","scale":0,"low_stock_threshold":0}`, w.sku)
				if err := put(gctx, client, o.Token, base, body); err != nil {
					return err
				}
			}
			if err := put(gctx, client, o.Token, base+"/stock", fmt.Sprintf(`{"on_hand":%d,"reason":"count"}`, onHand+w.reserved)); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if w.create {
				rep.Created++
			}
			rep.Stocked++
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// batchProduct is the part of a product the setup reads. Quantities are exact decimals; the
// bench's products have scale 0, so they are integers.
type batchProduct struct {
	SKU       string      `json:"sku"`
	Scale     int         `json:"scale"`
	Reserved  json.Number `json:"reserved"`
	Available json.Number `json:"available"`
}

func (p batchProduct) reserved() int64  { return units(p.Reserved) }
func (p batchProduct) available() int64 { return units(p.Available) }

// units reads an integer quantity; anything else (a fraction, garbage) counts as 0, which only
// makes the setup set the stock again.
func units(n json.Number) int64 {
	v, ok := new(big.Int).SetString(n.String(), 10)
	if !ok || !v.IsInt64() {
		return 0
	}
	return v.Int64()
}

func fetchBatch(ctx context.Context, o Options, client *http.Client, skus []string) (map[string]batchProduct, error) {
	q := url.Values{"sku": skus}
	ctx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.Target+"/v1/products?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	setToken(req, o.Token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/products?sku=…: %d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	var out struct {
		Products []batchProduct `json:"products"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("GET /v1/products?sku=…: %w", err)
	}
	found := make(map[string]batchProduct, len(out.Products))
	for _, p := range out.Products {
		found[p.SKU] = p
	}
	return found, nil
}

func put(ctx context.Context, client *http.Client, token, url, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	setToken(req, token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("PUT %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}
