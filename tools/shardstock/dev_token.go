package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/shard"
)

// devTokenFile is the file in the dev directory that holds the dev cluster's admin key.
const devTokenFile = "admin.token"

// devAdminKey returns the dev cluster's admin key (every scope) and whether it was created now:
// the key in DIR/admin.token when it still authenticates (a reused directory), else a new one,
// written there with mode 0600.
func devAdminKey(ctx context.Context, metaDSN, dir string) (token string, created bool, err error) {
	meta, err := shard.OpenMeta(metaDSN)
	if err != nil {
		return "", false, err
	}
	defer meta.Close()
	path := filepath.Join(dir, devTokenFile)
	if b, err := os.ReadFile(path); err == nil {
		token = strings.TrimSpace(string(b))
		keys := auth.NewCache(meta, auth.CacheOptions{})
		if err := keys.Load(ctx); err != nil {
			return "", false, fmt.Errorf("load API keys: %w", err)
		}
		if _, err := keys.Verify(token); err == nil {
			return token, false, os.Chmod(path, 0o600)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	issued, err := auth.Issue(ctx, meta, auth.Spec{Name: "shardstock dev admin", Scopes: auth.NewScopeSet(auth.AllScopes...)})
	if err != nil {
		return "", false, err
	}
	if err := writeSecretFile(path, issued.Token+"\n"); err != nil {
		return "", false, err
	}
	return issued.Token, true, nil
}

// writeSecretFile writes data to path with mode 0600 (replacing a file that had another mode).
func writeSecretFile(path, data string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // WriteFile keeps the mode of an existing file
		return err
	}
	return os.Rename(tmp, path)
}

// devAdminListen picks the loopback address of the dev gateway's admin listener (/metrics and
// pprof without a key, for Prometheus): the one the previous run's config named when it is still
// free, else a free port.
func devAdminListen(configPath string) (string, error) {
	if prev, err := configs.Load(configPath); err == nil && prev.AdminListen != "" {
		if ln, err := net.Listen("tcp", prev.AdminListen); err == nil {
			addr := ln.Addr().String()
			ln.Close()
			return addr, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("admin listener: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
