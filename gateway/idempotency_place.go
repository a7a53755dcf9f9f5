package gateway

import (
	"encoding/hex"
	"encoding/json"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/saga"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// claimPlace is where an Idempotency-Key's claim lives: with the data its request changes, so
// that a keyed request needs no shard that the request itself does not need.
type claimPlace struct {
	meta      bool // the metadata store (requests that change it: webhooks)
	partition int  // otherwise the partition of the data
}

// placeFunc finds the data a request changes from its path (or body); false when the request
// names none it could change (a malformed SKU or id: the handler refuses it).
type placeFunc func(r *request, c *cluster.Client) (claimPlace, bool)

// claimPlaces maps every route that accepts an Idempotency-Key to the data its request changes
// (TestEveryKeyedRouteHasAClaimPlace keeps it complete). A request whose data cannot be named
// is claimed in its key's home partition instead.
var claimPlaces = map[string]placeFunc{
	"/v1/products/{sku}":             placeOfSKU,
	"/v1/products/{sku}/adjustments": placeOfSKU,
	"/v1/products/{sku}/stock":       placeOfSKU,
	"/v1/products/{sku}/lots":        placeOfSKU,
	"/v1/reservations":               placeOfNewReservation,
	"/v1/reservations/{id}/commit":   placeOfReservation,
	"/v1/reservations/{id}/release":  placeOfReservation,
	"/v1/alerts/{id}/acknowledge":    placeOfAlert,
	"/v1/webhooks":                   placeOfMeta,
	"/v1/webhooks/{id}/redeliver":    placeOfMeta,
}

// placeOfSKU is the partition of the product in the path.
func placeOfSKU(r *request, c *cluster.Client) (claimPlace, bool) {
	sku := r.pathVar("sku")
	if inventory.ValidateSKU(sku) != nil {
		return claimPlace{}, false
	}
	return claimPlace{partition: c.PartitionOf(sku)}, true
}

// placeOfNewReservation is the partition of the reservation's header: its first line's SKU
// (saga.Reserve; the id derived from the key encodes it).
func placeOfNewReservation(r *request, c *cluster.Client) (claimPlace, bool) {
	var body struct {
		Lines []struct {
			SKU string `json:"sku"`
		} `json:"lines"`
	}
	if json.Unmarshal(r.body, &body) != nil || len(body.Lines) == 0 || inventory.ValidateSKU(body.Lines[0].SKU) != nil {
		return claimPlace{}, false
	}
	return claimPlace{partition: c.PartitionOf(body.Lines[0].SKU)}, true
}

// placeOfReservation is the header partition the reservation id encodes.
func placeOfReservation(r *request, c *cluster.Client) (claimPlace, bool) {
	p, ok := saga.IDPartition(r.pathVar("id"), c.Current().Partitions())
	return claimPlace{partition: p}, ok
}

// placeOfAlert is the partition the alert id encodes.
func placeOfAlert(r *request, c *cluster.Client) (claimPlace, bool) {
	p, ok := shard.AlertPartition(r.pathVar("id"))
	return claimPlace{partition: p}, ok && p < c.Current().Partitions()
}

// placeOfMeta is the metadata store.
func placeOfMeta(*request, *cluster.Client) (claimPlace, bool) {
	return claimPlace{meta: true}, true
}

// homePartition is the key's home partition, derived from the key alone: where its home record
// lives (RecordKeyHome), and its claim when the request names no data.
func homePartition(c *cluster.Client, keyHash []byte) int {
	return c.PartitionOf("idempotency/" + hex.EncodeToString(keyHash))
}
