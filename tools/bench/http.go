package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// newHTTPClient returns the client every worker shares: one keep-alive connection per worker,
// no compression, no proxy.
func newHTTPClient(o Options) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2*o.Concurrency + o.SetupConcurrency,
		MaxIdleConnsPerHost: 2*o.Concurrency + o.SetupConcurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: o.RequestTimeout}
}

// setToken adds the API key to req, when there is one.
func setToken(req *http.Request, token string) {
	if token != "" {
		req.Header["Authorization"] = []string{"Bearer " + token}
	}
}

// httpAnswer is one HTTP exchange: status (0 on a transport error) and the body.
type httpAnswer struct {
	status int
	body   []byte
	err    error
}

func (a httpAnswer) ok() bool { return a.err == nil && a.status >= 200 && a.status < 300 }

// statusKey is the Statuses key of the answer ("" for a transport error).
func (a httpAnswer) statusKey() string {
	if a.status == 0 {
		return ""
	}
	return strconv.Itoa(a.status)
}

// httpWorker runs scenario operations against the gateway. Each worker owns its buffers and
// its random source; the client is shared.
type httpWorker struct {
	o       Options
	id      int
	client  *http.Client
	skuURLs []string // Target + /v1/products/{sku} for each SKU
	skus    []string
	rng     *rand.Rand
	buf     bytes.Buffer
	body    []byte
	seq     int
}

func (w *httpWorker) do(ctx context.Context, method, url string, body []byte) httpAnswer {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return httpAnswer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	setToken(req, w.o.Token)
	resp, err := w.client.Do(req)
	if err != nil {
		return httpAnswer{err: err}
	}
	defer resp.Body.Close()
	w.buf.Reset()
	if _, err := w.buf.ReadFrom(resp.Body); err != nil {
		return httpAnswer{err: err}
	}
	a := httpAnswer{status: resp.StatusCode, body: w.buf.Bytes()}
	if !a.ok() {
		a.err = fmt.Errorf("%s %s: %d %s", method, trimBase(url, w.o.Target), resp.StatusCode, bytes.TrimSpace(a.body))
	}
	return a
}

func trimBase(url, base string) string {
	if len(url) >= len(base) && url[:len(base)] == base {
		return url[len(base):]
	}
	return url
}

// timed runs one request, records it and returns its answer.
func (w *httpWorker) timed(ctx context.Context, rec *recorder, kind requestKind, method, url string, body []byte) httpAnswer {
	ctx, cancel := context.WithTimeout(ctx, w.o.RequestTimeout)
	defer cancel()
	start := time.Now()
	a := w.do(ctx, method, url, body)
	rec.request(kind, start, time.Now(), a.statusKey(), a.err)
	return a
}

// runOp performs one operation of the scenario.
func (w *httpWorker) runOp(ctx context.Context, rec *recorder) {
	if w.o.Scenario == ScenarioReport {
		start := time.Now()
		ok := w.timed(ctx, rec, kindReport, http.MethodGet, w.o.Target+"/v1/stats/summary", nil).ok()
		rec.op(start, time.Now(), ok)
		return
	}
	runScenarioOp(ctx, w, w.o.Scenario, w.rng, rec)
}

func (w *httpWorker) pick() (int, string) {
	i := w.rng.IntN(len(w.skus))
	return i, w.skus[i]
}

func (w *httpWorker) read(ctx context.Context, rec *recorder) bool {
	i, _ := w.pick()
	return w.timed(ctx, rec, kindRead, http.MethodGet, w.skuURLs[i], nil).ok()
}

func (w *httpWorker) adjust(ctx context.Context, rec *recorder) bool {
	i, _ := w.pick()
	body := []byte(`{"delta":1,"reason":"receive"}`)
	return w.timed(ctx, rec, kindAdjust, http.MethodPost, w.skuURLs[i]+"/adjustments", body).ok()
}

// reservationTTL is the TTL of bench reservations: long enough to settle, short enough that the
// gateway's sweeper releases whatever an interrupted run leaves held.
const reservationTTL = 300

var errNoID = errors.New("reservation answer without an id")

// reserveAndSettle reserves one unit and then commits or releases it. The second request is
// sent even when the run is interrupted in between, so a run leaves nothing held.
func (w *httpWorker) reserveAndSettle(ctx context.Context, rec *recorder) bool {
	_, sku := w.pick()
	w.seq++
	w.body = w.body[:0]
	w.body = append(w.body, `{"order_id":"bench-`...)
	w.body = strconv.AppendInt(w.body, int64(w.id), 10)
	w.body = append(w.body, '-')
	w.body = strconv.AppendInt(w.body, int64(w.seq), 10)
	w.body = append(w.body, `","ttl_seconds":`...)
	w.body = strconv.AppendInt(w.body, reservationTTL, 10)
	w.body = append(w.body, `,"lines":[{"sku":"`...)
	w.body = append(w.body, sku...)
	w.body = append(w.body, `","quantity":1}]}`...)
	a := w.timed(ctx, rec, kindReserve, http.MethodPost, w.o.Target+"/v1/reservations", w.body)
	if !a.ok() {
		return false
	}
	id := jsonStringField(a.body, "id")
	if id == "" {
		rec.sample(errNoID.Error())
		return false
	}
	kind, action := kindCommit, "/commit"
	if w.o.Settle == SettleRelease {
		kind, action = kindRelease, "/release"
	}
	return w.timed(context.WithoutCancel(ctx), rec, kind, http.MethodPost, w.o.Target+"/v1/reservations/"+id+action, nil).ok()
}

// jsonStringField finds "name": "value" at any depth of a JSON body and returns the first
// value, enough for the ids the gateway prints (no escapes). It spares the load generator a
// full decode of every answer.
func jsonStringField(body []byte, name string) string {
	key := append(append([]byte{'"'}, name...), '"')
	for {
		i := bytes.Index(body, key)
		if i < 0 {
			return ""
		}
		body = body[i+len(key):]
		rest := bytes.TrimLeft(body, " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue // the name appeared as a value
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		if len(rest) == 0 || rest[0] != '"' {
			return ""
		}
		rest = rest[1:]
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			return ""
		}
		return string(rest[:j])
	}
}
