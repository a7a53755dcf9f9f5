package mysqlproc

import (
	"errors"
	"fmt"
	"path/filepath"
)

// TLSFiles are the PEM files of a server that accepts TLS: its certificate and key, and the
// CA that signs its clients' certificates (for accounts created with REQUIRE X509 / SUBJECT).
// tools/testcerts makes them.
type TLSFiles struct {
	CAFile   string // --ssl-ca
	CertFile string // --ssl-cert
	KeyFile  string // --ssl-key
	// RequireSecureTransport refuses TCP connections without TLS (--require-secure-transport).
	RequireSecureTransport bool
}

// absolute returns a copy with absolute paths (nil stays nil), so that a restart finds the
// files wherever the process's working directory is.
func (t *TLSFiles) absolute() (*TLSFiles, error) {
	if t == nil {
		return nil, nil
	}
	if t.CAFile == "" || t.CertFile == "" || t.KeyFile == "" {
		return nil, errors.New("mysqlproc: Options.TLS needs CAFile, CertFile and KeyFile")
	}
	out := *t
	for _, p := range []*string{&out.CAFile, &out.CertFile, &out.KeyFile} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("mysqlproc: TLS file path: %w", err)
		}
		*p = abs
	}
	return &out, nil
}

// args are the server flags for t (none for nil).
func (t *TLSFiles) args() []string {
	if t == nil {
		return nil
	}
	args := []string{"--ssl-ca=" + t.CAFile, "--ssl-cert=" + t.CertFile, "--ssl-key=" + t.KeyFile}
	if t.RequireSecureTransport {
		args = append(args, "--require-secure-transport=ON")
	}
	return args
}

// readinessParams are added to the readiness check's DSN: with TLS files the check uses TLS
// whenever the server offers it, without verifying the certificate (it only asks "is the
// server up?"; the tests verify).
func (t *TLSFiles) readinessParams() string {
	if t == nil {
		return ""
	}
	return "&tls=preferred"
}
