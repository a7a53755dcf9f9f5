package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// KeyCreator stores new keys (*shard.Meta).
type KeyCreator interface {
	CreateKey(ctx context.Context, k shard.Key) (shard.Key, error)
}

// Spec describes a key to issue.
type Spec struct {
	Name   string
	Scopes ScopeSet
	// Rate (requests per second) and Burst: 0 means the gateway's configured default.
	Rate  float64
	Burst int
	// ExpiresAt is when the key stops working; zero means never.
	ExpiresAt time.Time
}

// Issued is a key just created: Key as stored (no secret in it) and Token, the whole key the
// client sends. Token exists nowhere else: show it once.
type Issued struct {
	Key   shard.Key
	Token string
}

// Issue generates a key for spec and stores its hash. A clash of the random id with an
// existing key (about 2^-60 per key) is retried with a new key.
func Issue(ctx context.Context, store KeyCreator, spec Spec) (Issued, error) {
	if spec.Scopes == 0 {
		return Issued{}, inventory.Validation("scopes", "a key needs at least one scope (read, write, reserve, admin)")
	}
	for attempt := 1; ; attempt++ {
		g, err := Generate()
		if err != nil {
			return Issued{}, err
		}
		k, err := store.CreateKey(ctx, shard.Key{ID: g.ID, Name: spec.Name, SecretHash: g.Hash[:], Scopes: spec.Scopes.Names(),
			Rate: spec.Rate, Burst: spec.Burst, ExpiresAt: spec.ExpiresAt})
		if inventory.IsCode(err, inventory.CodeConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return Issued{}, fmt.Errorf("issue key: %w", err)
		}
		return Issued{Key: k, Token: g.Token}, nil
	}
}
