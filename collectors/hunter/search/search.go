// Package search holds what the hunter and its backends (sql, splunk,
// elasticsearch) share: the time window of a run, the events a search
// returns, and the Backend interface each backend implements.
package search

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
)

// Window is the time range a run searches: Start inclusive, End
// exclusive, so consecutive full-coverage windows neither overlap nor
// leave a gap.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Shift moves both ends by d.
func (w Window) Shift(d time.Duration) Window {
	return Window{Start: w.Start.Add(d), End: w.End.Add(d)}
}

// Empty reports whether the window holds no time.
func (w Window) Empty() bool { return !w.End.After(w.Start) }

func (w Window) String() string {
	return w.Start.UTC().Format(time.RFC3339Nano) + "/" + w.End.UTC().Format(time.RFC3339Nano)
}

// Event is one search result.
type Event struct {
	// Fields are the event's fields by name, flattened (nested objects as
	// "a.b"); values are strings, numbers, booleans or lists of them.
	Fields map[string]any
	// Time is the event's time; zero when the event has none (the
	// submission then uses the time of the run, as ACE does).
	Time time.Time
	// Raw is the event as the backend returned it, for the details.
	Raw json.RawMessage
}

// Result is what one search returned.
type Result struct {
	Events []Event
	// Query is the query as sent (placeholders filled in).
	Query string
	// SearchID identifies the search on the backend (Splunk's sid), if any.
	SearchID string
	// Total is how many events matched, when the backend knows; more than
	// len(Events) means the search hit max_result_count. -1: unknown.
	Total int
}

// Backend runs a rule's query on one kind of search system.
type Backend interface {
	// Prepare checks a freshly loaded rule and may rewrite its query
	// (Splunk expands <include:path>, adding the included files to
	// r.Files). Errors name the rule's keys (*rules.Error).
	Prepare(r *rules.Rule) error
	// Search runs the rule's query over w and returns at most
	// r.MaxResultCount events.
	Search(ctx context.Context, r *rules.Rule, w Window) (*Result, error)
	// Instance names the system searched (the submission's tool_instance).
	Instance() string
	// Close releases connections.
	Close() error
}

// String renders a field value as observable text: strings as they are,
// numbers without exponent, booleans as true/false; "" for nil and
// structured values.
func String(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return x.String()
	}
	return ""
}

// Values lists the observable texts of a field value: one per element of
// a list (a multi-value field), otherwise one.
func Values(v any) []string {
	if list, ok := v.([]any); ok {
		var out []string
		for _, x := range list {
			if s := String(x); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	if s := String(v); s != "" {
		return []string{s}
	}
	return nil
}

// Flatten turns a decoded JSON object into dotted field names
// ({"source": {"ip": x}} gives "source.ip"), keeping lists as values.
func Flatten(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			out[prefix+k] = v
		}
	}
	walk("", obj)
	return out
}
