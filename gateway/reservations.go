package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

const (
	maxReservationLines = 500
	maxTTLSeconds       = 86400
)

type reservationLineJSON struct {
	SKU      string       `json:"sku"`
	Quantity jsonQuantity `json:"quantity"`
}

type createReservationRequest struct {
	OrderID    *string               `json:"order_id"`
	Lines      []reservationLineJSON `json:"lines"`
	TTLSeconds *int64                `json:"ttl_seconds"`
	Commit     *bool                 `json:"commit"`
}

// reservationJSON is the contract's reservation representation.
type reservationJSON struct {
	ID        string           `json:"id"`
	OrderID   string           `json:"order_id"`
	Status    inventory.Status `json:"status"`
	ExpiresAt string           `json:"expires_at"`
	CreatedAt string           `json:"created_at"`
	Lines     []lineOutJSON    `json:"lines"`
}

type lineOutJSON struct {
	SKU      string    `json:"sku"`
	Quantity rawNumber `json:"quantity"`
}

// rawNumber is an exact decimal already printed.
type rawNumber string

// MarshalJSON prints the number token as is.
func (n rawNumber) MarshalJSON() ([]byte, error) { return []byte(n), nil }

func toReservationJSON(h shard.Header) reservationJSON {
	out := reservationJSON{ID: h.ID, OrderID: h.OrderID, Status: publicStatus(h.Status),
		ExpiresAt: h.ExpiresAt.UTC().Format(time.RFC3339Nano), CreatedAt: h.CreatedAt.UTC().Format(time.RFC3339Nano),
		Lines: make([]lineOutJSON, len(h.Lines))}
	for i, l := range h.Lines {
		out.Lines[i] = lineOutJSON{SKU: l.SKU, Quantity: rawNumber(l.Quantity.String())}
	}
	return out
}

// publicStatus maps the saga's in-flight statuses to what a client may see. An expiring
// header is, for the client, already being released.
func publicStatus(st inventory.Status) inventory.Status {
	if st == inventory.StatusExpiring {
		return inventory.StatusReleasing
	}
	return st
}

// newReservationID makes an id that encodes the header's partition. Under an Idempotency-Key
// the id is derived from the key, so a re-executed create finds its own header.
func newReservationID(partition int, marker []byte) string {
	var tail []byte
	if marker != nil {
		tail = marker[:15]
	} else {
		tail = make([]byte, 15)
		_, _ = rand.Read(tail)
	}
	return fmt.Sprintf("r%05d", partition) + base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(tail)
}

// reservationPartition extracts the header partition from an id (false when malformed).
func reservationPartition(id string, partitions int) (int, bool) {
	if len(id) != 30 || id[0] != 'r' {
		return 0, false
	}
	p, err := strconv.Atoi(id[1:6])
	if err != nil || p < 0 || p >= partitions {
		return 0, false
	}
	for _, c := range id[6:] {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'V') {
			return 0, false
		}
	}
	return p, true
}

func (s *Server) createReservation(r *http.Request, body []byte) (int, any, error) {
	var req createReservationRequest
	if err := decodeStrict(body, &req); err != nil {
		return 0, nil, err
	}
	if req.OrderID == nil {
		return 0, nil, inventory.Validation("order_id", "order_id is required")
	}
	if err := checkText("order_id", *req.OrderID, 1, 128); err != nil {
		return 0, nil, err
	}
	if len(req.Lines) == 0 {
		return 0, nil, inventory.Validation("lines", "lines must not be empty")
	}
	if len(req.Lines) > maxReservationLines {
		return 0, nil, inventory.Validation("lines", "at most %d lines are allowed", maxReservationLines)
	}
	ttl := s.cfg.Reservation.DefaultTTL
	if req.TTLSeconds != nil {
		if *req.TTLSeconds < 1 || *req.TTLSeconds > maxTTLSeconds {
			return 0, nil, inventory.Validation("ttl_seconds", "ttl_seconds must be 1-%d", maxTTLSeconds)
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}
	lines := make([]shard.LineRequest, len(req.Lines))
	seen := map[string]bool{}
	for i, l := range req.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		if err := inventory.ValidateSKU(l.SKU); err != nil {
			return 0, nil, fieldError(field+".sku", err)
		}
		if seen[l.SKU] {
			return 0, nil, inventory.Validation(field+".sku", "sku %q appears more than once", l.SKU)
		}
		seen[l.SKU] = true
		if !l.Quantity.set {
			return 0, nil, inventory.Validation(field+".quantity", "%s.quantity is required", field)
		}
		d, err := l.Quantity.decimal(field + ".quantity")
		if err != nil {
			return 0, nil, err
		}
		if err := mustPositive(field+".quantity", d); err != nil {
			return 0, nil, err
		}
		lines[i] = shard.LineRequest{SKU: l.SKU, Partition: s.cluster.PartitionOf(l.SKU), Quantity: d, Requested: d.String()}
	}
	marker := markerFrom(r.Context())
	h := shard.Header{ID: newReservationID(lines[0].Partition, marker), Partition: lines[0].Partition,
		OrderID: *req.OrderID, Lines: lines, CommitRequested: req.Commit != nil && *req.Commit}
	out, err := s.reserve(r.Context(), h, ttl)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, toReservationJSON(out), nil
}

// failpoint lets tests stop the coordinator at a saga step, as if the process died there.
func (s *Server) failpoint(step string) error {
	if s.opts.Failpoint == nil {
		return nil
	}
	if err := s.opts.Failpoint(step); err != nil {
		return &failpointError{step: step, err: err}
	}
	return nil
}

// failpointError marks a simulated crash: the coordinator returns without any cleanup.
type failpointError struct {
	step string
	err  error
}

func (e *failpointError) Error() string { return "failpoint " + e.step + ": " + e.err.Error() }
func (e *failpointError) Unwrap() error { return e.err }

// singleShard reports whether the header and every line are owned by one shard right now.
func (s *Server) singleShard(h shard.Header) bool {
	rt := s.cluster.Current()
	home := rt.OwnerName(h.Partition)
	for _, l := range h.Lines {
		if rt.OwnerName(l.Partition) != home {
			return false
		}
	}
	return true
}

// reserve creates a reservation: one local transaction when every line lives with the header,
// otherwise the saga (header pending → lines on each shard in parallel → held, or rollback).
func (s *Server) reserve(ctx context.Context, h shard.Header, ttl time.Duration) (shard.Header, error) {
	defer s.wroteLines(h.Lines)
	if s.reserveGroups != nil && len(h.Lines) == 1 {
		r, err := s.reserveGroups.submit(ctx, h.Lines[0].SKU, h.Partition, shard.BatchRequest{Header: h, TTL: ttl, KeyDerived: markerFrom(ctx) != nil})
		if err == nil {
			err = r.Err
		}
		switch {
		case err == nil:
			return r.Header, nil
		case inventory.IsCode(err, inventory.CodeAlreadyApplied):
			return s.awaitSettled(ctx, h)
		case ctx.Err() != nil || !retryOnNormalPath(err):
			return shard.Header{}, err
		}
		// The batch applied nothing (partition moving, shard trouble): take the normal path,
		// which refreshes the topology and retries.
	}
	if s.singleShard(h) {
		var out shard.Header
		err := s.cluster.OnPartition(ctx, "create_reservation_local", h.Partition, func(st *shard.Store) error {
			if !s.singleShard(h) {
				return inventory.Errorf(inventory.CodePartitionMoved, "lines no longer on one shard")
			}
			var err error
			out, err = st.CreateLocal(ctx, h, ttl)
			return err
		})
		switch {
		case err == nil:
			return out, nil
		case inventory.IsCode(err, inventory.CodeAlreadyApplied):
			return s.awaitSettled(ctx, h)
		case inventory.IsCode(err, inventory.CodePartitionMoved) && !s.singleShard(h):
			// fall through to the saga
		default:
			return shard.Header{}, err
		}
	}
	return s.reserveSaga(ctx, h, ttl)
}

// precheck reads every line's product (one query per shard) and fails, changing nothing, when
// a product is missing, a quantity has too many decimals or the stock is short right now. The
// saga re-checks under lock; this only spares the common failures a rollback.
func (s *Server) precheck(ctx context.Context, lines []shard.LineRequest) error {
	found, err := s.cluster.Products(ctx, lines)
	if err != nil {
		return err
	}
	var short []inventory.ShortLine
	for _, l := range lines {
		p, ok := found[l.SKU]
		if !ok {
			return inventory.Errorf(inventory.CodeNotFound, "product %q not found", l.SKU).WithDetails(map[string]any{"sku": l.SKU})
		}
		units, err := l.Quantity.BaseUnits(p.Scale)
		if err != nil {
			return err
		}
		if p.Available() < units {
			short = append(short, inventory.ShortLine{SKU: l.SKU, Requested: jsonNum(units, p.Scale), Available: jsonNum(max(p.Available(), 0), p.Scale)})
		}
	}
	if len(short) > 0 {
		return inventory.Insufficient(short...)
	}
	return nil
}

func (s *Server) reserveSaga(ctx context.Context, h shard.Header, ttl time.Duration) (shard.Header, error) {
	if err := s.precheck(ctx, h.Lines); err != nil {
		return shard.Header{}, err
	}
	err := s.cluster.OnPartition(ctx, "insert_header", h.Partition, func(st *shard.Store) error {
		return st.InsertHeader(ctx, h, ttl)
	})
	if inventory.IsCode(err, inventory.CodeAlreadyApplied) {
		return s.awaitSettled(ctx, h)
	}
	if err != nil {
		return shard.Header{}, err
	}
	if err := s.failpoint("saga.header_written"); err != nil {
		return shard.Header{}, err
	}
	err = s.cluster.OnLines(ctx, "reserve_lines", h.Lines, func(st *shard.Store, ls []shard.LineRequest) error {
		if err := st.ReserveLines(ctx, h.ID, ls); err != nil {
			return err
		}
		return s.failpoint("saga.line_group_reserved")
	})
	if err != nil {
		if fpErr(err) {
			return shard.Header{}, err
		}
		s.rollback(context.WithoutCancel(ctx), h)
		return shard.Header{}, err
	}
	if err := s.failpoint("saga.lines_reserved"); err != nil {
		return shard.Header{}, err
	}
	next := inventory.StatusHeld
	if h.CommitRequested {
		next = inventory.StatusCommitting
	}
	cur, moved, err := s.transition(ctx, h, []inventory.Status{inventory.StatusPending}, next, false)
	if err != nil {
		return shard.Header{}, err
	}
	if !moved {
		// The recovery worker judged this saga dead and is rolling it back.
		s.rollback(context.WithoutCancel(ctx), h)
		return shard.Header{}, inventory.Errorf(inventory.CodeShardUnavailable, "the reservation could not be completed in time; it was rolled back").
			WithDetails(map[string]any{"shards": []string{}, "status": cur.Status})
	}
	if h.CommitRequested {
		return s.finish(ctx, cur, shard.ActionCommit, inventory.KindCommit, inventory.StatusCommitted)
	}
	return cur, nil // the transition returned the header as it now is
}

func fpErr(err error) bool {
	var fe *failpointError
	return errors.As(err, &fe)
}

// rollback releases every line of a saga that failed (leaving tombstones for lines not yet
// reserved) and marks the header released. Errors are left to the recovery worker.
func (s *Server) rollback(ctx context.Context, h shard.Header) {
	cur, moved, err := s.transition(ctx, h, []inventory.Status{inventory.StatusPending}, inventory.StatusReleasing, false)
	if err != nil || (!moved && cur.Status != inventory.StatusReleasing) {
		return
	}
	_, _ = s.finish(ctx, cur, shard.ActionRelease, inventory.KindRelease, inventory.StatusReleased)
}

// transition flips the header on its home shard.
func (s *Server) transition(ctx context.Context, h shard.Header, from []inventory.Status, to inventory.Status, unexpiredOnly bool) (shard.Header, bool, error) {
	var cur shard.Header
	var moved bool
	err := s.cluster.OnPartition(ctx, "transition_header", h.Partition, func(st *shard.Store) error {
		var err error
		cur, moved, err = st.TransitionHeader(ctx, h.ID, h.Partition, from, to, unexpiredOnly)
		return err
	})
	return cur, moved, err
}

// finish applies a decided header (committing, releasing, expiring) to all its lines and then
// marks it final. Every step is idempotent, so the recovery worker runs the same code.
func (s *Server) finish(ctx context.Context, h shard.Header, action shard.LineAction, kind inventory.ChangeKind, final inventory.Status) (shard.Header, error) {
	err := s.cluster.OnLines(ctx, "apply_lines", h.Lines, func(st *shard.Store, ls []shard.LineRequest) error {
		if err := st.ApplyLines(ctx, h.ID, ls, action, kind); err != nil {
			return err
		}
		return s.failpoint("finish.line_group_applied")
	})
	if err != nil {
		return shard.Header{}, err
	}
	if err := s.failpoint("finish.lines_applied"); err != nil {
		return shard.Header{}, err
	}
	cur, _, err := s.transition(ctx, h, []inventory.Status{h.Status}, final, false)
	return cur, err
}

func (s *Server) readHeader(ctx context.Context, id string, partition int) (shard.Header, error) {
	var h shard.Header
	err := s.cluster.OnPartition(ctx, "get_reservation", partition, func(st *shard.Store) error {
		var err error
		h, err = st.GetHeader(ctx, id, partition)
		return err
	})
	return h, err
}

// awaitSettled answers a create that finds its own header already there (a re-run under the
// same Idempotency-Key whose first answer was never stored): once the header left pending, a
// reservation that exists is the answer; one that was rolled back (its coordinator gave up or
// died before holding it) is a failure, never a success.
func (s *Server) awaitSettled(ctx context.Context, h shard.Header) (shard.Header, error) {
	for {
		cur, err := s.readHeader(ctx, h.ID, h.Partition)
		if err != nil {
			return cur, err
		}
		switch cur.Status {
		case inventory.StatusReleased, inventory.StatusReleasing:
			return shard.Header{}, inventory.Errorf(inventory.CodeInvalidState,
				"an earlier attempt with this Idempotency-Key was rolled back; retry with a new Idempotency-Key").
				WithDetails(map[string]any{"status": inventory.StatusReleased})
		case inventory.StatusPending, inventory.StatusCommitting:
		default:
			return cur, nil
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return shard.Header{}, ctx.Err()
		}
	}
}

func (s *Server) reservationVar(r *http.Request) (string, int, error) {
	id := mux.Vars(r)["id"]
	p, ok := reservationPartition(id, s.cluster.Current().Partitions())
	if !ok {
		return "", 0, inventory.Errorf(inventory.CodeNotFound, "reservation %q not found", id)
	}
	return id, p, nil
}

func (s *Server) getReservation(r *http.Request, _ []byte) (int, any, error) {
	id, p, err := s.reservationVar(r)
	if err != nil {
		return 0, nil, err
	}
	h, err := s.readHeader(r.Context(), id, p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toReservationJSON(h), nil
}

func (s *Server) commitReservation(r *http.Request, body []byte) (int, any, error) {
	if err := emptyBody(body); err != nil {
		return 0, nil, err
	}
	return s.settle(r, shard.ActionCommit)
}

func (s *Server) releaseReservation(r *http.Request, body []byte) (int, any, error) {
	if err := emptyBody(body); err != nil {
		return 0, nil, err
	}
	return s.settle(r, shard.ActionRelease)
}

// emptyBody accepts no body or an empty JSON object (commit and release take no fields).
func emptyBody(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var none struct{}
	return decodeStrict(body, &none)
}

// settle commits or releases a reservation. The header decides first (held → committing or
// releasing, a commit only before expiry); then the lines; then the final status. Repeating a
// call that already succeeded answers 200 with the same state.
func (s *Server) settle(r *http.Request, action shard.LineAction) (int, any, error) {
	ctx := r.Context()
	id, p, err := s.reservationVar(r)
	if err != nil {
		return 0, nil, err
	}
	inFlight, final, kind := inventory.StatusCommitting, inventory.StatusCommitted, inventory.KindCommit
	if action == shard.ActionRelease {
		inFlight, final, kind = inventory.StatusReleasing, inventory.StatusReleased, inventory.KindRelease
	}
	unexpiredOnly := action == shard.ActionCommit
	var cur shard.Header
	var moved bool
	if s.settleGroups != nil {
		// Hot path: settles of reservations that live in one partition are grouped per
		// partition and applied many per transaction, without reading the header first.
		r, gerr := s.settleGroups.submit(ctx, strconv.Itoa(p), p, shard.SettleRequest{ID: id, Action: action, UnexpiredOnly: unexpiredOnly})
		if gerr == nil {
			gerr = r.Err
		}
		switch {
		case gerr == nil && r.Moved:
			s.wroteLines(r.Header.Lines)
			return http.StatusOK, toReservationJSON(r.Header), nil
		case gerr == nil && !r.NotLocal:
			return s.judgeSettled(ctx, r.Header, action, inFlight, final, kind)
		case gerr != nil && (ctx.Err() != nil || !retryOnNormalPath(gerr)):
			return 0, nil, gerr
		}
		// Not local, or the group applied nothing: the per-request path below.
	}
	h, err := s.readHeader(ctx, id, p)
	if err != nil {
		return 0, nil, err
	}
	defer s.wroteLines(h.Lines)
	if s.singleShard(h) {
		err = s.cluster.OnPartition(ctx, "settle_local", p, func(st *shard.Store) error {
			var err error
			cur, moved, err = st.FinishLocal(ctx, id, p, []inventory.Status{inventory.StatusHeld}, final, action, kind, unexpiredOnly)
			return err
		})
		if err != nil {
			return 0, nil, err
		}
		if moved {
			return http.StatusOK, toReservationJSON(cur), nil
		}
	} else {
		cur, moved, err = s.transition(ctx, h, []inventory.Status{inventory.StatusHeld}, inFlight, unexpiredOnly)
		if err != nil {
			return 0, nil, err
		}
		if moved {
			if err := s.failpoint("settle.header_decided"); err != nil {
				return 0, nil, err
			}
			out, err := s.finish(ctx, cur, action, kind, final)
			if err != nil {
				return 0, nil, err
			}
			return http.StatusOK, toReservationJSON(out), nil
		}
	}
	return s.judgeSettled(ctx, cur, action, inFlight, final, kind)
}

// judgeSettled answers a settle whose header was not held when it was tried.
func (s *Server) judgeSettled(ctx context.Context, cur shard.Header, action shard.LineAction, inFlight, final inventory.Status, kind inventory.ChangeKind) (int, any, error) {
	id := cur.ID
	switch {
	case cur.Status == final:
		return http.StatusOK, toReservationJSON(cur), nil
	case cur.Status == inFlight:
		out, err := s.finish(ctx, cur, action, kind, final)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, toReservationJSON(out), nil
	case action == shard.ActionRelease && (cur.Status == inventory.StatusExpired || cur.Status == inventory.StatusExpiring):
		// Releasing an expired reservation: its stock is already back; nothing to do.
		return http.StatusOK, toReservationJSON(cur), nil
	case cur.Status == inventory.StatusHeld:
		// A commit after the TTL passed but before the sweeper got to it: expire it now.
		if exp, err := s.expire(ctx, cur); err == nil {
			cur = exp
		}
		return 0, nil, inventory.Errorf(inventory.CodeInvalidState, "reservation %s has expired", id).
			WithDetails(map[string]any{"status": publicStatus(cur.Status)})
	default:
		return 0, nil, inventory.Errorf(inventory.CodeInvalidState, "reservation %s is %s; cannot %s it", id, publicStatus(cur.Status), action).
			WithDetails(map[string]any{"status": publicStatus(cur.Status)})
	}
}

// retryOnNormalPath reports whether a failed group applied nothing for a reason the normal,
// per-request path handles better (it refreshes the topology and retries a moved partition).
func retryOnNormalPath(err error) bool {
	switch inventory.ErrorCode(err) {
	case inventory.CodePartitionMoved, inventory.CodeShardUnavailable, inventory.CodeInternal:
		return true
	}
	return false
}

// startCoalescing creates the hot-SKU groups: reservations and settles of single-line,
// single-shard reservations are applied many per shard transaction.
func (s *Server) startCoalescing() {
	groupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), s.cfg.HTTP.RequestTimeout)
	}
	s.reserveGroups = newGroupCommit(s.cfg.Coalesce.MaxBatch, groupCtx,
		func(ctx context.Context, sku string, p int, reqs []shard.BatchRequest) ([]shard.BatchResult, error) {
			s.metrics.batchSize.WithLabelValues("reserve").Observe(float64(len(reqs)))
			st, err := s.cluster.Current().Owner(p)
			if err != nil {
				return nil, err
			}
			var out []shard.BatchResult
			err = s.cluster.Timed("create_reservation_batch", st, func() error {
				var err error
				out, err = st.CreateLocalBatch(ctx, sku, p, reqs)
				return err
			})
			return out, err
		})
	s.settleGroups = newGroupCommit(s.cfg.Coalesce.MaxBatch, groupCtx,
		func(ctx context.Context, _ string, p int, reqs []shard.SettleRequest) ([]shard.SettleResult, error) {
			s.metrics.batchSize.WithLabelValues("settle").Observe(float64(len(reqs)))
			st, err := s.cluster.Current().Owner(p)
			if err != nil {
				return nil, err
			}
			var out []shard.SettleResult
			err = s.cluster.Timed("settle_reservation_batch", st, func() error {
				var err error
				out, err = st.SettleLocalBatch(ctx, p, reqs)
				return err
			})
			return out, err
		})
}

// wroteLines drops the lines' SKUs from the read cache.
func (s *Server) wroteLines(lines []shard.LineRequest) {
	if s.readCache == nil {
		return
	}
	for _, l := range lines {
		s.readCache.invalidate(l.SKU)
	}
}

// expire releases a held reservation past its TTL: held → expiring → lines released → expired.
func (s *Server) expire(ctx context.Context, h shard.Header) (shard.Header, error) {
	cur, moved, err := s.transition(ctx, h, []inventory.Status{inventory.StatusHeld}, inventory.StatusExpiring, false)
	if err != nil {
		return shard.Header{}, err
	}
	if !moved && cur.Status != inventory.StatusExpiring {
		return cur, nil
	}
	return s.finish(ctx, cur, shard.ActionRelease, inventory.KindExpire, inventory.StatusExpired)
}
