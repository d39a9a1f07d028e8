package groups

import (
	"log/slog"
	"sync"
	"time"
)

// GroupStatus is one group's delivery state, for `status` and /status.json.
type GroupStatus struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Blocked says why work waits instead of being delivered ("" when
	// nothing holds it up): "node source failing: …", "no node available
	// …", "all nodes backing off until …", "no node for analysis mode …".
	Blocked string `json:"blocked,omitempty"`
	// BlockedSince is when the group became blocked (the reason may have
	// changed since).
	BlockedSince time.Time `json:"blocked_since,omitzero"`
}

// blockedLogEvery: a reason that persists is logged again this often.
const blockedLogEvery = time.Minute

// Block layers. A node-level reason stops the whole group and is decided
// before each claim; a mode-level one holds back the items of one analysis
// mode and is decided per batch. Status shows the node level first.
const (
	nodeLayer = iota
	modeLayer
	layers
)

// blocker remembers why a group's delivery is stuck, logs it at WARN when
// the reason changes and at most once per blockedLogEvery while it
// persists, and logs at INFO when it clears (if it was logged).
type blocker struct {
	log   *slog.Logger
	now   func() time.Time
	every time.Duration

	mu     sync.Mutex
	layer  [layers]blockReason
	logged map[string]time.Time // reason key → last WARN
}

type blockReason struct {
	key    string // what kind of reason; rate limiting is per key
	text   string
	since  time.Time
	warned bool // a WARN went out during this stretch
}

func newBlocker(log *slog.Logger) *blocker {
	return &blocker{log: log, now: time.Now, every: blockedLogEvery, logged: map[string]time.Time{}}
}

// set records that layer is blocked for a reason of kind key.
func (b *blocker) set(layer int, key, text string) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	r := &b.layer[layer]
	if r.key == "" {
		r.since = now
	}
	r.key, r.text = key, text
	// Per key, so a reason that comes and goes is not logged each time.
	if !b.due(key, now) {
		return
	}
	b.logged[key] = now
	r.warned = true
	b.log.Warn("delivery blocked; work waits", "reason", text, "blocked_for", now.Sub(r.since))
}

// due reports whether a WARN for key may go out now.
func (b *blocker) due(key string, now time.Time) bool {
	last, ok := b.logged[key]
	return !ok || now.Sub(last) >= b.every
}

// warn logs msg at WARN at most once per blockedLogEvery for key, for
// problems that do not block the group (one of several nodes refused).
func (b *blocker) warn(key, msg string, args ...any) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.due(key, now) {
		return
	}
	b.logged[key] = now
	b.log.Warn(msg, args...)
}

// clear records that layer is no longer blocked (for any reason, or only
// for key when key is not empty).
func (b *blocker) clear(layer int, key string) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	r := &b.layer[layer]
	if r.key == "" || (key != "" && r.key != key) {
		return
	}
	if r.warned {
		b.log.Info("delivery unblocked", "was", r.text, "blocked_for", now.Sub(r.since))
	}
	*r = blockReason{}
}

// status returns the reason shown for the group and since when.
func (b *blocker) status() (string, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.layer {
		if r.key != "" {
			return r.text, r.since
		}
	}
	return "", time.Time{}
}
