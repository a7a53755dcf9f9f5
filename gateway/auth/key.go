package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// The key format: "ssk_" + a 12-character public id (lower-case base32) + "_" + the secret, 32
// random bytes in unpadded base64url (43 characters), 60 characters in all, e.g.
//
//	ssk_kwkikmg3qhdb_trhqb8xFHW1EQJg8cXruptBzyNauP_7PA_QyoIzyWoU
//
// The id finds the key in the cache; the secret is checked by comparing its SHA-256 with the
// stored hash in constant time. Every character belongs to RFC 6750's b64token, so the whole key
// is the bearer token.
const (
	// KeyPrefix starts every key (and makes leaked keys easy to find with secret scanners).
	KeyPrefix   = "ssk_"
	idLen       = 12
	secretBytes = 32
	secretLen   = 43 // base64url of 32 bytes, unpadded
	tokenLen    = len(KeyPrefix) + idLen + 1 + secretLen
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var secretEncoding = base64.RawURLEncoding.Strict()

// ErrMalformedKey means a token is not in the key format.
var ErrMalformedKey = errors.New("auth: not an API key")

// Generated is a freshly generated key. Token is what the client sends; it is shown once and
// stored nowhere. Hash is what the metadata store keeps.
type Generated struct {
	ID    string
	Token string
	Hash  [sha256.Size]byte
}

// Generate returns a new key from crypto/rand.
func Generate() (Generated, error) {
	var raw [idLen + secretBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Generated{}, fmt.Errorf("auth: generate key: %w", err)
	}
	id := make([]byte, idLen)
	for i, b := range raw[:idLen] {
		id[i] = idAlphabet[b&31]
	}
	secret := raw[idLen:]
	g := Generated{ID: string(id), Hash: sha256.Sum256(secret)}
	g.Token = KeyPrefix + g.ID + "_" + secretEncoding.EncodeToString(secret)
	return g, nil
}

// ParseToken splits a key into its id and secret bytes. Anything that is not exactly in the key
// format (length, prefix, alphabet, canonical base64url) is ErrMalformedKey.
func ParseToken(token string) (id string, secret []byte, err error) {
	if len(token) != tokenLen || !strings.HasPrefix(token, KeyPrefix) || token[len(KeyPrefix)+idLen] != '_' {
		return "", nil, ErrMalformedKey
	}
	id = token[len(KeyPrefix) : len(KeyPrefix)+idLen]
	if !ValidKeyID(id) {
		return "", nil, ErrMalformedKey
	}
	secret, err = secretEncoding.DecodeString(token[len(KeyPrefix)+idLen+1:])
	if err != nil || len(secret) != secretBytes {
		return "", nil, ErrMalformedKey
	}
	return id, secret, nil
}

// ValidKeyID reports whether id is in the format of a key's public id.
func ValidKeyID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(idAlphabet, id[i]) < 0 {
			return false
		}
	}
	return true
}

// hashSecret is what the metadata store keeps of a secret.
func hashSecret(secret []byte) [sha256.Size]byte { return sha256.Sum256(secret) }
