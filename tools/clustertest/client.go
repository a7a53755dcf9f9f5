package clustertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Client drives the HTTP API.
type Client struct {
	t    testing.TB
	Base string
	HTTP *http.Client
	// Token is the API key sent as "Authorization: Bearer <token>" unless a request names its
	// own Authorization header; "" sends none.
	Token string
}

// As returns a copy of the client that sends token ("" none) instead.
func (c *Client) As(token string) *Client {
	cp := *c
	cp.Token = token
	return &cp
}

// NewClient returns a client for the gateway at base.
func NewClient(t testing.TB, base string) *Client {
	return &Client{t: t, Base: base, HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}}
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// ErrorCode returns error.code of an error envelope ("" otherwise).
func (r Response) ErrorCode() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// Num returns a numeric field as its exact text (numbers are decoded with UseNumber).
func (r Response) Num(field string) string {
	n, _ := r.Body[field].(json.Number)
	return n.String()
}

// Str returns a string field.
func (r Response) Str(field string) string {
	s, _ := r.Body[field].(string)
	return s
}

// Do sends a request. body may be nil, a string (sent raw) or any value (JSON-encoded).
// headers are alternating name, value pairs.
func (c *Client) Do(method, path string, body any, headers ...string) Response {
	c.t.Helper()
	resp, err := c.Try(method, path, body, headers...)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// Try is Do without failing the test on a transport error.
func (c *Client) Try(method, path string, body any, headers ...string) (Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return Response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	out := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		_ = dec.Decode(&out.Body)
	}
	return out, nil
}

// Expect fails the test unless the response has the status (and, for errors, the code).
func (c *Client) Expect(r Response, status int, code string) Response {
	c.t.Helper()
	if r.Status != status || (code != "" && r.ErrorCode() != code) {
		c.t.Fatalf("want %d %s, got %d: %s", status, code, r.Status, r.Raw)
	}
	return r
}

// Product creates a product and receives on_hand (a decimal string such as "50" or "1.25").
func (c *Client) Product(sku string, scale int, onHand string) {
	c.t.Helper()
	c.Expect(c.Do("PUT", "/v1/products/"+sku, map[string]any{"name": "Product " + sku, "category": "test", "scale": scale}), 201, "")
	if onHand != "" && onHand != "0" {
		c.Expect(c.Do("POST", "/v1/products/"+sku+"/adjustments", `{"delta": `+onHand+`, "reason": "receive"}`), 200, "")
	}
}
