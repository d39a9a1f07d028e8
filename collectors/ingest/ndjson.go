package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
)

// Mapping turns one JSON event into a submission: the fields holding the
// description, time and rank, and field → observable type (ACE hunters'
// [observable_mapping]).
type Mapping struct {
	DescriptionField string
	TimeField        string
	RankField        string
	Observables      []FieldType // sorted by field
	DedupLines       bool
}

// FieldType maps one (dotted) field to an observable type.
type FieldType struct{ Field, Type string }

func parseMapping(sec *collector.Section) Mapping {
	m := Mapping{
		DescriptionField: sec.String("description_field", "description"),
		TimeField:        sec.String("time_field", "timestamp"),
		RankField:        sec.String("rank_field", ""),
		DedupLines:       sec.Bool("dedup_lines", true),
	}
	for _, k := range sec.KeysWithPrefix("observable.") {
		f, typ := strings.TrimPrefix(k, "observable."), strings.TrimSpace(sec.Value(k))
		if f == "" || typ == "" {
			sec.Errorf(k, "want observable.FIELD = TYPE")
			continue
		}
		m.Observables = append(m.Observables, FieldType{Field: f, Type: typ})
	}
	sort.Slice(m.Observables, func(i, j int) bool { return m.Observables[i].Field < m.Observables[j].Field })
	return m
}

// Submission builds the submission for one event line. name describes
// events without a description field.
func (m *Mapping) Submission(line []byte, name string, f collector.SubmissionFields, g collector.Global) (*collector.Submission, error) {
	if !json.Valid(line) {
		return nil, fmt.Errorf("%w: not one JSON value (one JSON object per line)", collector.ErrInvalid)
	}
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var ev map[string]any
	if err := d.Decode(&ev); err != nil || ev == nil {
		return nil, fmt.Errorf("%w: not a JSON object", collector.ErrInvalid)
	}
	desc := scalar(lookup(ev, m.DescriptionField))
	if strings.TrimSpace(desc) == "" {
		desc = name + " event"
	}
	sub := collector.NewSubmission(desc)
	f.Apply(sub, g)
	sub.Details = json.RawMessage(bytes.TrimSpace(line))
	if v := lookup(ev, m.TimeField); v != nil {
		t, err := eventTime(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", collector.ErrInvalid, m.TimeField, err)
		}
		sub.EventTime = t
	}
	if m.RankField != "" {
		if r, err := strconv.ParseFloat(scalar(lookup(ev, m.RankField)), 64); err == nil {
			sub.Rank = int(r)
		}
	}
	var set collector.ObservableSet
	for _, ft := range m.Observables {
		for _, v := range values(lookup(ev, ft.Field)) {
			if ft.Type == collector.ObsIPv4 || ft.Type == collector.ObsIPv6 {
				if a, err := netip.ParseAddr(v); err == nil {
					set.AddIP(a)
				}
				continue
			}
			set.AddValue(ft.Type, v)
		}
	}
	sub.Observables = set.List()
	if m.DedupLines {
		sum := sha256.Sum256(bytes.TrimSpace(line))
		sub.DedupKey = "ndjson:" + hex.EncodeToString(sum[:])
	}
	return sub, nil
}

func lookup(m map[string]any, path string) any {
	if path == "" {
		return nil
	}
	if v, ok := m[path]; ok { // a key that itself holds dots
		return v
	}
	var cur any = m
	for part := range strings.SplitSeq(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = mm[part]; !ok {
			return nil
		}
	}
	return cur
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// values lists a field's scalar values: one, or each item of a list.
func values(v any) []string {
	if l, ok := v.([]any); ok {
		var out []string
		for _, x := range l {
			if s := scalar(x); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	if s := scalar(v); s != "" {
		return []string{s}
	}
	return nil
}

// eventTime reads RFC 3339, ACE's event_time formats, or unix seconds.
func eventTime(v any) (time.Time, error) {
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		if err != nil || f < 0 || f > 1e11 {
			return time.Time{}, fmt.Errorf("%s is not a unix time in seconds", n)
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, errors.New("not a time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := api.ParseEventTime(s, time.UTC)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// ndjsonResult is the answer of POST /api/ingest/ndjson.
type ndjsonResult struct {
	Stored int      `json:"stored"`
	UUIDs  []string `json:"uuids"`
	Error  string   `json:"error,omitempty"`
}

// ndjson takes newline-delimited JSON events. Every line is checked before
// any is stored (a bad line: 400 naming it, nothing stored); then each is
// stored in order. If one cannot be stored the answer is 503 with
// Retry-After and how many were; with dedup_lines, sending the whole body
// again stores each line once.
func (c *Collector) ndjson(env *collector.Env) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, min(c.cfg.MaxRequestSize, maxNDJSON)))
		if err != nil {
			var mbe *http.MaxBytesError
			code := http.StatusBadRequest
			if errors.As(err, &mbe) {
				code = http.StatusRequestEntityTooLarge
			}
			answer(w, code, 0, ndjsonResult{Error: "reading the body: " + err.Error()})
			return
		}
		subs, err := c.parseLines(body, env)
		if err != nil {
			env.Drop("invalid", 1)
			answer(w, http.StatusBadRequest, 0, ndjsonResult{Error: err.Error(), UUIDs: []string{}})
			return
		}
		res := ndjsonResult{UUIDs: []string{}}
		for _, sub := range subs {
			if err := c.store(r.Context(), env, sub); err != nil {
				code, after, msg := api.AcceptStatus(err)
				res.Error = fmt.Sprintf("line %d: %s", res.Stored+1, msg)
				env.Log.Warn("ingest event not stored; the sender is told to retry", "stored", res.Stored, "error", err)
				answer(w, code, after, res)
				return
			}
			res.Stored++
			res.UUIDs = append(res.UUIDs, sub.UUID)
		}
		answer(w, http.StatusOK, 0, map[string]any{"result": res})
	}
}

func (c *Collector) parseLines(body []byte, env *collector.Env) ([]*collector.Submission, error) {
	var subs []*collector.Submission
	for i, line := range bytes.Split(body, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		sub, err := c.cfg.Mapping.Submission(line, env.Name, c.cfg.Fields, env.Global)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w (nothing stored)", i+1, err)
		}
		subs = append(subs, sub)
	}
	if len(subs) == 0 {
		return nil, errors.New("no event in the body (one JSON object per line)")
	}
	return subs, nil
}

func (c *Collector) store(ctx context.Context, env *collector.Env, sub *collector.Submission) error {
	env.Count("received", 1)
	if err := env.Sink.Submit(ctx, sub); err != nil {
		return err
	}
	env.Count("submitted", 1)
	return nil
}

func answer(w http.ResponseWriter, code, retryAfter int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
