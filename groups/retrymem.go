package groups

import "sync"

// maxRetryMemory bounds retryMemory: past it, the memory starts over (a
// long outage of every node leaves nothing worth steering anyway).
const maxRetryMemory = 100_000

// retryMemory remembers, per queued item, the node that last failed it
// transiently, so its retry prefers another node. It is an optimisation
// kept in memory: after a restart, or on another instance, an item simply
// goes wherever selection sends it.
type retryMemory struct {
	mu   sync.Mutex
	last map[int64]string // work id → location
}

func newRetryMemory() *retryMemory { return &retryMemory{last: map[int64]string{}} }

// failed records that loc failed item id.
func (r *retryMemory) failed(id int64, loc string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.last) >= maxRetryMemory {
		clear(r.last)
	}
	r.last[id] = loc
}

// avoid returns the location to avoid for item id ("" if none) and forgets it.
func (r *retryMemory) avoid(id int64) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	loc := r.last[id]
	delete(r.last, id)
	return loc
}
