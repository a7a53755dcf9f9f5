// Package tlscert holds the gateway listener's TLS certificate and reloads it from its files
// on demand (SIGHUP), without touching open connections: the certificate is chosen per
// handshake through tls.Config.GetCertificate, so a reload only affects new connections.
//
// Wiring in serve:
//
//	h, err := tlscert.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile)
//	…
//	defer tlscert.WatchSIGHUP(ctx, h, log)()
//	ln = tls.NewListener(ln, h.TLSConfig())
package tlscert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Holder is the current certificate of a listener and the files it comes from. It is safe
// for concurrent use.
type Holder struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
	reloadMu          sync.Mutex // one Reload at a time
}

// Load reads the certificate chain (PEM, leaf first) and its key; it fails when they do not
// match or the certificate has expired.
func Load(certFile, keyFile string) (*Holder, error) {
	h := &Holder{certFile: certFile, keyFile: keyFile}
	if err := h.Reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// Reload reads the files again. When they are unreadable, do not match or hold an expired
// certificate, it returns the error and keeps serving the previous certificate. Open
// connections are never affected; new handshakes get the new certificate.
func (h *Holder) Reload() error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	cert, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s and %s: %w", h.certFile, h.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("tls: parse %s: %w", h.certFile, err)
		}
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		return fmt.Errorf("tls: certificate in %s expired at %s", h.certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	h.cert.Store(&cert)
	return nil
}

// GetCertificate is the tls.Config.GetCertificate of the listener. A Holder always has a
// certificate (Load fails otherwise).
func (h *Holder) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return h.cert.Load(), nil
}

// Leaf is the certificate served to new connections.
func (h *Holder) Leaf() *x509.Certificate { return h.cert.Load().Leaf }

// TLSConfig returns a server configuration that serves the holder's current certificate:
// TLS 1.2 or later, HTTP/2 and HTTP/1.1 offered by ALPN (net/http's Server.Serve handles both
// on a tls.NewListener when its own TLSConfig is nil).
func (h *Holder) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: h.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// WatchSIGHUP reloads h on every SIGHUP until ctx ends or the returned stop function is called
// (stop also waits for the watcher to finish). A reload that fails is logged at error level
// and the previous certificate stays in use; a successful one is logged with the new
// certificate's subject and expiry. The signal is registered before WatchSIGHUP returns.
func WatchSIGHUP(ctx context.Context, h *Holder, log *slog.Logger) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				if err := h.Reload(); err != nil {
					log.Error("tls certificate not reloaded; still serving the previous one", "err", err,
						"cert_file", h.certFile, "not_after", h.Leaf().NotAfter)
					continue
				}
				leaf := h.Leaf()
				log.Info("tls certificate reloaded", "cert_file", h.certFile, "subject", leaf.Subject.String(),
					"not_after", leaf.NotAfter)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
