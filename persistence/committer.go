package persistence

import (
	"context"
	"errors"
	"sync"
)

// committer turns concurrent Enqueue calls into group commits: one writer
// takes every request waiting at that moment (up to max) and writes them in
// one transaction, so throughput is not one fsync per submission, while a
// lone request is written at once, without waiting for company.
type committer struct {
	s    *Store
	max  int
	reqs chan *enqueueReq
	quit chan struct{}
	wg   sync.WaitGroup

	mu     sync.RWMutex // senders hold it shared; stop takes it to close
	closed bool
}

type enqueueReq struct {
	ctx  context.Context
	w    *Work
	res  EnqueueResult
	err  error
	done chan struct{}
}

// ErrClosed is returned by Enqueue after Close.
var ErrClosed = errors.New("store is closed")

func newCommitter(s *Store, max int) *committer {
	c := &committer{s: s, max: max, reqs: make(chan *enqueueReq, max), quit: make(chan struct{})}
	c.wg.Add(1)
	go c.loop()
	return c
}

func (c *committer) loop() {
	defer c.wg.Done()
	batch := make([]*enqueueReq, 0, c.max)
	for {
		select {
		case <-c.quit:
			return
		case r := <-c.reqs:
			batch = append(batch[:0], r)
		}
	drain:
		for len(batch) < c.max {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		live := batch[:0]
		for _, r := range batch {
			if r.ctx.Err() != nil {
				r.err = r.ctx.Err()
				close(r.done)
				continue
			}
			live = append(live, r)
		}
		if len(live) == 0 {
			continue
		}
		c.s.enqueueBatch(live)
		for _, r := range live {
			close(r.done)
		}
	}
}

func (c *committer) stop() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.quit)
	c.mu.Unlock()
	c.wg.Wait()
	// No sender can queue now; fail what the loop did not take rather
	// than leave callers hanging.
	for {
		select {
		case r := <-c.reqs:
			r.err = ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// Enqueue durably stores w and distributes it to its groups. It returns
// only after the transaction holding w has committed.
//
// While the embedded store's disk is full (see Full), it refuses at once,
// without writing, with an error wrapping syscall.ENOSPC.
func (s *Store) Enqueue(ctx context.Context, w *Work) (EnqueueResult, error) {
	if s.Full() && !s.tryRestore(ctx, false) {
		return EnqueueResult{}, s.space.refusal()
	}
	r := &enqueueReq{ctx: ctx, w: w, done: make(chan struct{})}
	c := s.commit
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return EnqueueResult{}, ErrClosed
	}
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		c.mu.RUnlock()
		return EnqueueResult{}, ctx.Err()
	}
	c.mu.RUnlock()
	// Once queued, wait for the outcome even if ctx ends: the write may
	// already be committed, and the caller must know whether it was. The
	// loop or stop always closes done.
	<-r.done
	return r.res, r.err
}
