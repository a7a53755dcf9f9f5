package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/egress"
	"github.com/shardstock/shardstock/shard"
)

// SignatureHeader carries the HMAC-SHA256 of a webhook delivery's body under the webhook's
// secret: "sha256=<hex>".
const SignatureHeader = "X-Shardstock-Signature"

// Sign returns the signature header value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// webhookClient POSTs deliveries. It connects only where the egress guard allows (the address
// is checked after name resolution, on every connection), never through a proxy, and does not
// follow redirects (a 3xx is a failed delivery).
type webhookClient struct{ http *http.Client }

func newWebhookClient(timeout time.Duration, guard *egress.Guard) *webhookClient {
	tr := guard.Transport()
	tr.MaxIdleConnsPerHost = 32
	return &webhookClient{http: &http.Client{Timeout: timeout, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// webhookSink delivers to one subscription.
type webhookSink struct {
	hook   shard.Webhook
	client *webhookClient
}

func (w webhookSink) name() string                       { return shard.WebhookSink(w.hook.ID) }
func (w webhookSink) accepts(t string) bool              { return w.hook.Accepts(t) }
func (w webhookSink) maxAttempts(cfg configs.Events) int { return cfg.WebhookMaxAttempts }

// hold takes the webhook's hold; its lock may wait for a deletion in progress (waitingMeta).
func (w webhookSink) hold(ctx context.Context, s *Service) (func(), error) {
	var release func()
	err := s.waitingMeta(ctx, "hold_webhook", func(ctx context.Context, m *shard.Meta) error {
		var err error
		release, err = m.Sinks().HoldWebhook(ctx, w.hook.ID)
		return err
	})
	return release, err
}

func (w webhookSink) deadLetter(ctx context.Context, s *Service, d shard.DeadLetter, epoch int64) error {
	d.WebhookID = w.hook.ID
	return s.cluster.Meta(context.WithoutCancel(ctx), "add_dead_letter", func(ctx context.Context, m *shard.Meta) error {
		return m.Sinks().AddDeadLetter(ctx, d, epoch)
	})
}

// deliver POSTs one event; any answer but 2xx is a failure.
func (w webhookSink) deliver(ctx context.Context, ev shard.Event, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.hook.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shardstock-webhooks/1")
	req.Header.Set("X-Shardstock-Event-Id", ev.ID)
	req.Header.Set("X-Shardstock-Event-Type", ev.Type)
	req.Header.Set(SignatureHeader, Sign(w.hook.Secret, body))
	resp, err := w.client.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &egress.StatusError{Code: resp.StatusCode}
	}
	return nil
}
