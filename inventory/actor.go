package inventory

import "context"

// Actor is who caused a change: the API key of the request (its public id) or the name of the
// background worker, and the request id (X-Request-Id) when a request did. Every change-log row
// records both, so the ledger says who changed what.
type Actor struct {
	ID        string
	RequestID string
}

// The actors that are not API keys. A worker that finishes something a request started keeps
// that request's id when it has one.
const (
	// ActorExpiry releases held reservations whose TTL has passed.
	ActorExpiry = "expiry-worker"
	// ActorRecovery finishes reservation sagas that a crashed coordinator left behind.
	ActorRecovery = "recovery-worker"
	// ActorLotSweeper removes expired lot quantity.
	ActorLotSweeper = "lot-sweeper"
	// ActorAlertReconcile repairs alerts left missing or stale by changes made around the API.
	ActorAlertReconcile = "alert-reconcile"
	// ActorAnonymous is every request of a gateway that runs with auth.mode none.
	ActorAnonymous = "anonymous"
)

// actorKey is the context key of the Actor: request-scoped metadata that the shard store
// writes into every change-log row of the request's transactions.
type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the Actor ctx carries (the zero Actor when none).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// WorkerContext returns ctx carrying the worker name as its actor, keeping the request id ctx
// already carries (a worker step taken on behalf of a request, such as the expiry of a
// reservation found past its TTL by a commit).
func WorkerContext(ctx context.Context, worker string) context.Context {
	return WithActor(ctx, Actor{ID: worker, RequestID: ActorFrom(ctx).RequestID})
}
