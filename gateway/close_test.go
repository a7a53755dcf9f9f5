package gateway_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// Close ends open event streams even when the background workers (and so the event relays)
// were never started: a gateway with DisableWorkers does not leave SSE clients hanging.
func TestCloseEndsEventStreamsWithoutWorkers(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	srv, err := gateway.New(context.Background(), c.Config(), gateway.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DisableWorkers: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	closed := false
	defer func() {
		if !closed {
			srv.Close()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/v1/events/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	lines := make(chan string)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case l := <-lines:
		if l != "retry: 1000" {
			t.Fatalf("stream began with %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream sent nothing")
	}

	srv.Close()
	closed = true
	for {
		select {
		case <-lines: // keep-alives may still come
		case <-ended:
			return
		case <-time.After(5 * time.Second):
			t.Fatal("the event stream is still open 5 s after Close")
		}
	}
}
