// Package collector is the core of ace-collector: the Submission model, the
// Collector interface and registry of collector kinds, and the runtime that
// makes every submission durable before anything else happens.
package collector

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
)

// Sink receives submissions from collectors.
//
// Submit returns nil only once the submission and its files are durable.
// A source must not delete its input, acknowledge a peer, or advance a
// bookmark before that. An error wrapping ErrInvalid means the submission
// itself is bad (retrying will not help); any other error means it could
// not be stored now and the source should keep its input and retry later
// (backpressure).
type Sink interface {
	Submit(ctx context.Context, sub *Submission) error
}

// State is a collector's durable key/value state (ACE's persistence keys),
// scoped to the collector's name. Offsets, bookmarks and last-run times go
// here, never into ad-hoc files.
type State interface {
	// Get returns the value of key; found is false if it does not exist.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Put stores a permanent key (never expires).
	Put(ctx context.Context, key string, value []byte) error
	// PutVolatile stores or refreshes a volatile key, which expires by age.
	PutVolatile(ctx context.Context, key string, value []byte) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Global holds the [global] settings collectors may need.
type Global struct {
	Node     string // [global] node: this node's name (LOCAL in target_nodes)
	Hostname string // tool_instance default
	BaseDir  string // relative paths in the config are resolved against it
}

// Path resolves a configured path: relative paths are taken against
// BaseDir (when set); empty and absolute paths are returned as they are.
func (g Global) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || g.BaseDir == "" {
		return p
	}
	return filepath.Join(g.BaseDir, p)
}

// Env is what the runtime hands a running collector.
type Env struct {
	Name   string // the NAME of [collector_NAME]
	Kind   string
	Sink   Sink
	State  State
	Log    *slog.Logger
	Stats  *Stats
	Global Global
}

// Count adds n to the collector's counter for event (e.g. "received").
func (e *Env) Count(event string, n int64) { e.Stats.Add(e.Name, event, n) }

// Drop counts n items dropped for reason; nothing is dropped uncounted.
func (e *Env) Drop(reason string, n int64) { e.Stats.Add(e.Name, "dropped_"+reason, n) }

// Collector is one configured source. Run blocks until ctx is cancelled
// (returning nil) or the collector fails (returning an error, after which
// the runtime restarts it with backoff).
type Collector interface {
	Run(ctx context.Context, env *Env) error
}

// Factory builds a collector from its [collector_NAME] section. Bad values
// are reported through sec (so validate lists them all); the returned error
// is for problems that make the collector impossible to build.
type Factory func(sec *Section, g Global) (Collector, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes a collector kind available under name (type = name).
// It is called from the kind's init function.
func Register(kind string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic(fmt.Sprintf("collector kind %q registered twice", kind))
	}
	registry[kind] = f
}

// Lookup returns the factory for kind.
func Lookup(kind string) (Factory, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := registry[kind]
	return f, ok
}

// Kinds lists the registered collector kinds, sorted.
func Kinds() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
