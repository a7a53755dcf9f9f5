// Package inventory is shardstock's domain vocabulary, below every adapter (WTF Dial style):
// the error type with the contract's codes, exact quantities, SKU rules, and the typed
// statuses, fence states and change kinds that the SQL store, the gateway and the mover share.
// It imports nothing of ours and does no I/O.
package inventory
