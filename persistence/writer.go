package persistence

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// The writer is the one goroutine that writes the queue (on MySQL a few,
// side by side). Enqueues, claims, delivery outcomes and deletes are
// handed to it; it takes every write waiting at that moment and runs them
// in one transaction (a round), so a busy pipeline costs one commit per
// round, not four serialized write transactions per submission. While
// writes keep coming, a round starts at most every dialect.roundEvery, gathering
// what arrives meanwhile; an idle writer runs a write at once. When the
// merged transaction fails, each write runs again alone, so one bad
// submission fails alone. Enqueues are acknowledged once their commit is
// durable (walSyncer on SQLite).
type writer struct {
	s    *Store
	max  int
	ops  chan writeOp
	quit chan struct{}
	wg   sync.WaitGroup

	mu     sync.RWMutex // senders hold it shared; stop takes it to close
	closed bool
}

// The least time between the starts of two rounds while writes keep
// coming (dialect.roundEvery). Measured with the bench on 2 cores (README
// "Benchmark"): on SQLite, where a round's cost is mostly per page written,
// 3 ms made rounds larger and the pipeline about a tenth faster than 1 ms
// (5 and 10 ms gained nothing more); MySQL, whose writers wait on the
// server's commits side by side, keeps the 1 ms measured for it before.
const (
	sqliteRoundEvery = 3 * time.Millisecond
	mysqlRoundEvery  = time.Millisecond
)

// writeOp is one caller's write waiting for the writer.
type writeOp interface {
	req() *opReq
	addTo(r *round) // files the write under its kind
}

// opReq is what every write shares: the caller's context (a write whose
// caller gave up before the writer took it is not run), its error and
// the channel closed when it is done.
type opReq struct {
	ctx  context.Context
	err  error
	done chan struct{}
}

func (r *opReq) req() *opReq { return r }

func newReq(ctx context.Context) opReq { return opReq{ctx: ctx, done: make(chan struct{})} }

// ErrClosed is returned by Enqueue (and other writes) after Close.
var ErrClosed = errors.New("store is closed")

// newWriter starts n loops taking writes from one queue: one for SQLite,
// which has one writing connection; several for MySQL, where a round
// spends most of its time in round trips and the server runs
// transactions side by side.
func newWriter(s *Store, max, n int) *writer {
	w := &writer{s: s, max: max, ops: make(chan writeOp, max), quit: make(chan struct{})}
	for range n {
		w.wg.Add(1)
		go w.loop()
	}
	return w
}

// isClosed reports whether the store was closed (writes fail with ErrClosed).
func (w *writer) isClosed() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.closed
}

// submit hands op to the writer and waits until it is done. Once taken,
// op is waited for even if ctx ends: the write may already be committed,
// and the caller must know whether it was.
func (w *writer) submit(ctx context.Context, op writeOp) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.ops <- op:
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	w.mu.RUnlock()
	r := op.req()
	<-r.done // the loop or stop always closes it
	return r.err
}

func (w *writer) loop() {
	defer w.wg.Done()
	batch := make([]writeOp, 0, w.max)
	var last time.Time // when the last round started
	for {
		select {
		case <-w.quit:
			return
		case op := <-w.ops:
			batch = append(batch[:0], op)
		}
		// Under load (the last round started less than roundEvery ago),
		// gather what arrives until it has passed: fewer, larger
		// rounds, each with one commit. A claim ends the gathering: a
		// worker waits for it with nothing else to do.
		if wait := w.s.d.roundEvery - time.Since(last); wait > 0 && !w.urgent(batch[0]) {
			t := time.NewTimer(wait)
		gather:
			for len(batch) < w.max {
				select {
				case op := <-w.ops:
					batch = append(batch, op)
					if w.urgent(op) {
						break gather
					}
				case <-t.C:
					break gather
				}
			}
			t.Stop()
		}
	drain:
		for len(batch) < w.max {
			select {
			case op := <-w.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		last = time.Now()
		live := batch[:0]
		for _, op := range batch {
			if r := op.req(); r.ctx.Err() != nil {
				r.err = r.ctx.Err()
				close(r.done)
				continue
			}
			live = append(live, op)
		}
		if len(live) > 0 {
			w.s.write(live)
		}
	}
}

// urgent reports whether op's caller waits for it with nothing else to do
// (a claim), so that the round should not wait for more writes. Only on
// the embedded store's single writer: MySQL's writers run side by side.
func (w *writer) urgent(op writeOp) bool {
	_, ok := op.(*claimOp)
	return ok && w.s.d.writers == 1
}

func (w *writer) stop() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.quit)
	w.mu.Unlock()
	w.wg.Wait()
	// No sender can queue now; fail what the loop did not take rather
	// than leave callers hanging.
	for {
		select {
		case op := <-w.ops:
			r := op.req()
			r.err = ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// round is the writes of one transaction, by kind, in the order they are
// applied: outcomes first (so claims of the same round see items put
// back), then deletes, enqueues, and claims (which then see the new items).
type round struct {
	finishes []*finishOp
	deletes  []*deleteOp
	enqueues []*enqueueOp
	claims   []*claimOp
	hand     []handed // items reserved on workers' lanes (direct.go)
	cleaned  int      // submissions deleted as their last outcome was recorded
}

func newRound(ops []writeOp) *round {
	r := &round{}
	for _, op := range ops {
		op.addTo(r)
	}
	return r
}

func (op *finishOp) addTo(r *round)  { r.finishes = append(r.finishes, op) }
func (op *deleteOp) addTo(r *round)  { r.deletes = append(r.deletes, op) }
func (op *enqueueOp) addTo(r *round) { r.enqueues = append(r.enqueues, op) }
func (op *claimOp) addTo(r *round)   { r.claims = append(r.claims, op) }

// wakes reports whether the round's commit gives delivery workers or the
// cleanup loop something new to do.
func (r *round) wakes() bool {
	for _, op := range r.enqueues {
		if op.stored {
			return true
		}
	}
	for _, op := range r.finishes {
		if op.woke {
			return true
		}
	}
	return false
}

// write runs ops in one transaction and reports to each; when that fails,
// each runs alone.
func (s *Store) write(ops []writeOp) {
	err := s.writeRound(newRound(ops))
	if err != nil && len(ops) > 1 {
		s.log.Debug("merged write failed, running its writes one by one", "n", len(ops), "error", err)
		for _, op := range ops {
			if _, isEnqueue := op.(*enqueueOp); isEnqueue && s.Full() {
				// The failure released the reserve: from now on new
				// submissions are refused without writing.
				s.complete(op, s.space.refusal())
				continue
			}
			s.complete(op, s.writeRound(newRound([]writeOp{op})))
		}
		return
	}
	for _, op := range ops {
		s.complete(op, err)
	}
}

// complete reports err to op. An enqueue that committed is reported only
// once its commit is durable (see walSyncer); that includes one that found
// its uuid already queued, since that commit may still be on its way.
func (s *Store) complete(op writeOp, err error) {
	r := op.req()
	if _, isEnqueue := op.(*enqueueOp); isEnqueue && err == nil && s.sync != nil {
		s.sync.after(r)
		return
	}
	r.err = err
	close(r.done)
}

// writeRound runs one round in one transaction and signals its commit.
func (s *Store) writeRound(r *round) error {
	ctx := context.Background() // a round is not aborted by one caller's ctx
	// Lanes stay registered from reservation to hand-over.
	s.direct.mu.RLock()
	defer s.direct.mu.RUnlock()
	apply := func(lookUp bool) func(tx *sqlx.Tx) error {
		return func(tx *sqlx.Tx) error {
			unreserve(r.hand) // an earlier attempt's, rolled back
			r.hand = r.hand[:0]
			r.cleaned = 0
			t := wtx{tx: tx, s: s, ctx: ctx, r: r}
			if err := s.applyFinishes(t, r.finishes); err != nil {
				return err
			}
			if err := s.applyDeletes(t, r.deletes); err != nil {
				return err
			}
			if err := s.applyEnqueues(t, r.enqueues, lookUp); err != nil {
				return err
			}
			for _, op := range r.claims {
				if err := s.applyClaim(t, op); err != nil {
					return err
				}
			}
			return nil
		}
	}
	lookUp := !s.d.optimisticEnqueue
	err := s.writeTx(ctx, len(r.enqueues) == 0, apply(lookUp))
	if err != nil && !lookUp && len(r.enqueues) > 0 && s.d.duplicateKey(err) {
		// A uuid already queued: run the round again, looking first.
		err = s.writeTx(ctx, false, apply(true))
	}
	if err != nil {
		unreserve(r.hand)
		r.hand = nil
		return r.describe(err)
	}
	s.handOver(r.hand)
	r.hand = nil
	if r.cleaned > 0 {
		if s.onCleaned != nil {
			s.onCleaned(r.cleaned)
		}
		s.afterDelete(ctx) // as Delete does: truncate the WAL; a full store may recover
	}
	if r.wakes() {
		s.signal() // before the commit is durable: delivering early is harmless
	}
	return nil
}

// describe names what a failed round was writing.
func (r *round) describe(err error) error {
	n := len(r.finishes) + len(r.deletes) + len(r.enqueues) + len(r.claims)
	if n == 1 {
		switch {
		case len(r.enqueues) == 1:
			return fmt.Errorf("persistence: enqueue of %s: %w", r.enqueues[0].w.UUID, err)
		case len(r.claims) == 1:
			return fmt.Errorf("persistence: claiming work for group %s: %w", r.claims[0].group, err)
		case len(r.finishes) == 1:
			return fmt.Errorf("persistence: finishing work for group %s: %w", r.finishes[0].group, err)
		default:
			return fmt.Errorf("persistence: deleting finished work: %w", err)
		}
	}
	return fmt.Errorf("persistence: writing %d enqueues, %d claims, %d outcome sets, %d deletes: %w",
		len(r.enqueues), len(r.claims), len(r.finishes), len(r.deletes), err)
}

// syncBarrier makes every commit so far durable (SQLite; MySQL commits are
// durable already).
func (s *Store) syncBarrier(ctx context.Context) error {
	if s.sync == nil {
		return nil
	}
	if err := s.sync.wait(ctx); err != nil {
		return fmt.Errorf("persistence: syncing before cleanup: %w", err)
	}
	return nil
}
