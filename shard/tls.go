package shard

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/go-sql-driver/mysql"
)

// TLSOptions are the files of a TLS setting for MySQL connections. The fields are those of
// configs.MySQLTLS, so shard.TLSOptions(cfg.MySQLTLS[name]) converts one.
type TLSOptions struct {
	// CAFile is a PEM bundle of the CAs that sign the servers' certificates; empty means the
	// system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate and key (both or neither), for accounts
	// created with REQUIRE X509, SUBJECT or ISSUER.
	CertFile string
	KeyFile  string
	// ServerName is the name expected in the server's certificate; empty means the DSN's host
	// (an IP address there is checked against the certificate's IP SANs).
	ServerName string
}

// RegisterTLS loads the files of o and registers the TLS configuration with go-sql-driver/mysql
// under name; a DSN selects it with tls=<name> (the shard DSNs in the metadata store too). The
// server's certificate is always verified. The driver's registry is process-wide and is read
// when a DSN is parsed, so register every name before Open or OpenMeta; registering a name
// again affects only DSNs parsed afterwards.
func RegisterTLS(name string, o TLSOptions) error {
	cfg, err := o.tlsConfig()
	if err != nil {
		return fmt.Errorf("mysql tls %q: %w", name, err)
	}
	if err := mysql.RegisterTLSConfig(name, cfg); err != nil {
		return fmt.Errorf("mysql tls %q: %w", name, err)
	}
	return nil
}

// tlsConfig builds the client configuration: TLS 1.2 or later, o's CAs (or the system's),
// o's client certificate.
func (o TLSOptions) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", o.CAFile)
		}
	}
	switch {
	case o.CertFile != "" && o.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s and key %s: %w", o.CertFile, o.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case o.CertFile != "" || o.KeyFile != "":
		return nil, errors.New("cert_file and key_file go together")
	}
	return cfg, nil
}
