package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// historyJSON is a page of GET /v1/products/{sku}/history. NextCursor is null on the last page.
type historyJSON struct {
	SKU        string             `json:"sku"`
	Scale      int                `json:"scale"`
	Entries    []historyEntryJSON `json:"entries"`
	NextCursor *string            `json:"next_cursor"`
}

// historyEntryJSON is one change-log row of the product, with the quantities it left.
type historyEntryJSON struct {
	ID             string       `json:"id"`
	At             string       `json:"at"`
	Kind           string       `json:"kind"`
	DeltaOnHand    quantityJSON `json:"delta_on_hand"`
	DeltaReserved  quantityJSON `json:"delta_reserved"`
	OnHandAfter    quantityJSON `json:"on_hand_after"`
	ReservedAfter  quantityJSON `json:"reserved_after"`
	AvailableAfter quantityJSON `json:"available_after"`
	Ref            string       `json:"ref"`
	Actor          *string      `json:"actor"`      // null on rows written before actors were recorded
	RequestID      *string      `json:"request_id"` // null when no request id was recorded
}

func toHistoryEntryJSON(e shard.HistoryEntry, scale int) historyEntryJSON {
	return historyEntryJSON{
		ID: shard.EventID(e.OriginShard, e.OriginSeq), At: e.CreatedAt.UTC().Format(time.RFC3339Nano), Kind: string(e.Kind),
		DeltaOnHand: quantityJSON{e.DeltaOnHand, scale}, DeltaReserved: quantityJSON{e.DeltaReserved, scale},
		OnHandAfter: quantityJSON{e.OnHandAfter, scale}, ReservedAfter: quantityJSON{e.ReservedAfter, scale},
		AvailableAfter: quantityJSON{e.OnHandAfter - e.ReservedAfter, scale},
		Ref:            e.Ref, Actor: nonEmpty(e.Actor), RequestID: nonEmpty(e.RequestID),
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// listHistory serves GET /v1/products/{sku}/history?limit=N&cursor=X: the product's change-log
// rows, newest first, with who caused each and the quantities it left.
func (api *productAPI) listHistory(r *request) (int, any, error) {
	sku, p, err := api.skuVar(r)
	if err != nil {
		return 0, nil, err
	}
	if err := queryParams(r, "limit", "cursor"); err != nil {
		return 0, nil, err
	}
	limit, err := limitParam(r)
	if err != nil {
		return 0, nil, err
	}
	var from *shard.HistoryPosition
	if r.URL.Query().Has("cursor") {
		pos, err := api.history.open(r.URL.Query().Get("cursor"), sku)
		if err != nil {
			return 0, nil, err
		}
		from = &pos
	}
	var h shard.History
	err = api.cluster.OnPartition(r.Context(), "product_history", p, func(st *shard.Store) error {
		var err error
		h, err = st.History(r.Context(), sku, p, from, limit)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	out := historyJSON{SKU: sku, Scale: h.Product.Scale, Entries: make([]historyEntryJSON, 0, len(h.Entries))}
	for _, e := range h.Entries {
		out.Entries = append(out.Entries, toHistoryEntryJSON(e, h.Product.Scale))
	}
	if h.Next != nil {
		c := api.history.seal(*h.Next, sku)
		out.NextCursor = &c
	}
	return http.StatusOK, out, nil
}

// historyCodec makes history cursors opaque and tamper-proof: a cursor is
// base64url(nonce | AES-256-GCM(position)), sealed for one SKU (its additional data). The
// position names a change-log row by its origin (a shard name, which business answers never
// show, hence the encryption) and carries the running quantities, which the gateway trusts
// because nobody without the key can make a cursor. The key derives from the cluster's
// "cursor-hmac" secret, so every gateway opens every other's cursors.
type historyCodec struct{ aead cipher.AEAD }

const historyCursorVersion = 1

func newHistoryCodec(secret []byte) historyCodec {
	key := sha256.Sum256(append([]byte("shardstock history cursor v1\x00"), secret...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // AES has a 16-byte block
	}
	return historyCodec{aead: aead}
}

// seal returns the cursor of pos for sku.
func (c historyCodec) seal(pos shard.HistoryPosition, sku string) string {
	plain := []byte{historyCursorVersion, byte(len(pos.OriginShard))}
	plain = append(plain, pos.OriginShard...)
	plain = binary.BigEndian.AppendUint64(plain, pos.OriginSeq)
	plain = binary.BigEndian.AppendUint64(plain, uint64(pos.OnHand))
	plain = binary.BigEndian.AppendUint64(plain, uint64(pos.Reserved))
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(c.aead.Seal(nonce, nonce, plain, []byte(sku)))
}

// open checks a cursor against sku and returns its position (422 validation_failed when it is
// not a cursor of this product's history).
func (c historyCodec) open(cursor, sku string) (shard.HistoryPosition, error) {
	bad := inventory.Validation("cursor", "cursor is invalid or was issued for another product; start again without a cursor")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	ns := c.aead.NonceSize()
	if err != nil || len(raw) < ns+c.aead.Overhead() {
		return shard.HistoryPosition{}, bad
	}
	plain, err := c.aead.Open(nil, raw[:ns], raw[ns:], []byte(sku))
	if err != nil || len(plain) < 2 || plain[0] != historyCursorVersion || len(plain) != 2+int(plain[1])+24 {
		return shard.HistoryPosition{}, bad
	}
	n := int(plain[1])
	rest := plain[2+n:]
	return shard.HistoryPosition{OriginShard: string(plain[2 : 2+n]), OriginSeq: binary.BigEndian.Uint64(rest),
		OnHand: int64(binary.BigEndian.Uint64(rest[8:])), Reserved: int64(binary.BigEndian.Uint64(rest[16:]))}, nil
}
