// Package collector is the core of ace-collector: the Submission model, the
// Collector interface and registry of collector kinds, and the runtime that
// makes every submission durable before anything else happens.
package collector

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
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

// Kind describes one collector kind: what `type = NAME` selects.
type Kind struct {
	// Name is the value of the section's type key.
	Name string
	// Summary says in one line what the kind collects (for validate and
	// the help text).
	Summary string
	// Sample is the kind's documented [collector_NAME] section(s), INI
	// text with every key, its default and its meaning in comments. It
	// holds no other section, so appended to a config with a group and a
	// node it validates (collectors/all tests that, and that the kind's
	// page under docs/collectors shows it).
	Sample []byte
	// New builds a configured instance.
	New Factory
}

// DirInputs is implemented by collectors that read input from
// directories (a drop directory, a spool, the directories of followed
// files), so validate can check them before the daemon starts.
type DirInputs interface {
	InputDirs() []string
}

var (
	regMu    sync.RWMutex
	registry = map[string]Kind{}
)

// Register makes a collector kind available under k.Name. It is called
// from the kind's init function; a kind without a name, factory, summary
// or sample, or registered twice, is a programming error and panics, so
// every test run catches it.
func Register(k Kind) {
	if err := checkKind(k); err != nil {
		panic(err)
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[k.Name]; dup {
		panic(fmt.Sprintf("collector kind %q registered twice", k.Name))
	}
	registry[k.Name] = k
}

func checkKind(k Kind) error {
	switch {
	case strings.TrimSpace(k.Name) == "":
		return fmt.Errorf("collector kind registered without a name")
	case strings.ContainsAny(k.Name, " \t\r\n,"):
		return fmt.Errorf("collector kind name %q contains white space or a comma", k.Name)
	case k.New == nil:
		return fmt.Errorf("collector kind %q registered without a factory", k.Name)
	case strings.TrimSpace(k.Summary) == "" || strings.Contains(k.Summary, "\n"):
		return fmt.Errorf("collector kind %q: the summary must be one non-empty line", k.Name)
	case len(bytes.TrimSpace(k.Sample)) == 0:
		return fmt.Errorf("collector kind %q registered without a sample configuration", k.Name)
	}
	return nil
}

// Lookup returns the kind registered under name.
func Lookup(name string) (Kind, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	k, ok := registry[name]
	return k, ok
}

// Kinds lists the registered collector kinds, sorted by name.
func Kinds() []Kind {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Kind, 0, len(registry))
	for _, k := range registry {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// KindNames lists the registered kinds' names, sorted (for messages such
// as "unknown collector type").
func KindNames() []string {
	ks := Kinds()
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	return out
}
