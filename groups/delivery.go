package groups

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
)

// Delivery is what a group type implements: deliver one submission to one
// target. Everything else a group does — claiming, coverage, choosing the
// target, retries with capped backoff, parking, status and metrics — is
// this package's, the same for every type.
//
// Deliver returns nil once the target has the submission (by the type's
// own definition of "has", which its page documents). An error is
// classified by Classify: a *Failure says whether it is permanent; any
// other error is judged as a network error (refused, reset, timeout, TLS:
// transient). The submission's UUID must travel with it, so a receiver can
// drop the duplicates at-least-once delivery allows.
type Delivery interface {
	// Deliver must not modify sub: a submission handed over at enqueue
	// is one value shared by every group it goes to (copy it to change it).
	Deliver(ctx context.Context, to Node, sub *collector.Submission) error
	// Close releases connections; it is called once, after the last Deliver.
	Close() error
}

// Targeted is implemented by the deliveries of types that do not deliver
// to nodes (Type.Nodes false): their fixed targets, chosen among by weight
// and health like nodes. Every analysis mode is accepted.
type Targeted interface {
	Targets() []Node
}

// Failure is a delivery error classified by its type.
type Failure struct {
	// Permanent: no retry fixes it (the target rejected this submission,
	// or it cannot be rendered); with full delivery it is parked.
	// Otherwise the failure is transient and the item is retried.
	Permanent bool
	// Kind is a short word for logs ("rejected", "server", "tls", ...).
	Kind string
	Err  error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// Permanent returns err classified as permanent, of kind.
func Permanent(kind string, err error) error { return &Failure{Permanent: true, Kind: kind, Err: err} }

// Transient returns err classified as transient, of kind.
func Transient(kind string, err error) error { return &Failure{Kind: kind, Err: err} }

// Permanentf is Permanent with a formatted error.
func Permanentf(kind, format string, args ...any) error {
	return Permanent(kind, fmt.Errorf(format, args...))
}

// Classify reports whether a Deliver error is transient and its kind. A
// *Failure says so itself; other errors are judged by api.Transient (a
// connection refused or reset, a timeout, a TLS failure: transient).
func Classify(err error) (transient bool, kind string) {
	if err == nil {
		return false, ""
	}
	var f *Failure
	if errors.As(err, &f) {
		return !f.Permanent, f.Kind
	}
	return api.Transient(err), api.FailureKind(err)
}

// Type is a group type: what `type = NAME` in [collection_group_NAME]
// selects. A type is a package that calls RegisterType in its init
// function; groups/all imports every one.
type Type struct {
	// Name is the value of the section's type key.
	Name string
	// Summary says in one line what the type delivers to.
	Summary string
	// Sample is the type's documented [collection_group_NAME] section(s):
	// INI text with every key, its default and its meaning in comments,
	// and no other section.
	Sample []byte
	// Nodes: the type delivers to nodes ([node_NAME] sections or an ACE
	// node database; target_nodes, company_id and database are read for
	// it). Otherwise its Delivery implements Targeted.
	Nodes bool
	// Parse reads the type's own keys of one group, reporting bad values
	// through sec (section and key named). It must not open anything:
	// validate runs it. g holds the shared keys already read.
	Parse func(sec *collector.Section, g GroupConfig, env ParseEnv) any
	// Open builds the delivery of a parsed group (g.Settings is what Parse
	// returned): clients, certificates, templates.
	Open func(g GroupConfig, log *slog.Logger) (Delivery, error)
}

// ParseEnv is what a type's Parse may need from the rest of the file.
type ParseEnv struct {
	Global collector.Global
	// SSLCAFile is [SSL] ca_chain_path (ACE's CA bundle), "" if unset.
	SSLCAFile string
}

var (
	typesMu sync.RWMutex
	types   = map[string]Type{}
)

// RegisterType makes a group type available under t.Name. A type without
// a name, summary, sample, Parse or Open, or registered twice, is a
// programming error and panics, so every test run catches it.
func RegisterType(t Type) {
	switch {
	case strings.TrimSpace(t.Name) == "" || strings.ContainsAny(t.Name, " \t\r\n,"):
		panic(fmt.Sprintf("group type name %q is empty or contains white space or a comma", t.Name))
	case t.Parse == nil || t.Open == nil:
		panic(fmt.Sprintf("group type %q registered without Parse or Open", t.Name))
	case strings.TrimSpace(t.Summary) == "" || strings.Contains(t.Summary, "\n"):
		panic(fmt.Sprintf("group type %q: the summary must be one non-empty line", t.Name))
	case len(bytes.TrimSpace(t.Sample)) == 0:
		panic(fmt.Sprintf("group type %q registered without a sample configuration", t.Name))
	}
	typesMu.Lock()
	defer typesMu.Unlock()
	if _, dup := types[t.Name]; dup {
		panic(fmt.Sprintf("group type %q registered twice", t.Name))
	}
	types[t.Name] = t
}

// LookupType returns the type registered under name.
func LookupType(name string) (Type, bool) {
	typesMu.RLock()
	defer typesMu.RUnlock()
	t, ok := types[name]
	return t, ok
}

// Types returns every registered type, sorted by name.
func Types() []Type {
	typesMu.RLock()
	defer typesMu.RUnlock()
	out := make([]Type, 0, len(types))
	for _, t := range types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TypeNames returns the registered type names, sorted.
func TypeNames() []string {
	var out []string
	for _, t := range Types() {
		out = append(out, t.Name)
	}
	return out
}
