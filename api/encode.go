package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ace-collector/ace-collector/collector"
)

// wireObservable is one observable as ace_api.py sends it. Empty lists are
// omitted rather than sent as null: ACE's server iterates them.
type wireObservable struct {
	Type            string   `json:"type"`
	Value           string   `json:"value"`
	Time            string   `json:"time,omitempty"`
	Tags            []string `json:"tags,omitempty"`
	Directives      []string `json:"directives,omitempty"`
	LimitedAnalysis []string `json:"limited_analysis,omitempty"`
}

// wireSubmission is the `analysis` JSON document, keys in ace_api.py's
// order, plus submission_uuid (ignored by ACE's server, used by receivers
// to drop duplicates of an at-least-once delivery).
type wireSubmission struct {
	AnalysisMode   string           `json:"analysis_mode"`
	Tool           string           `json:"tool"`
	ToolInstance   string           `json:"tool_instance"`
	Type           string           `json:"type"`
	CompanyID      *int             `json:"company_id"`
	Description    string           `json:"description"`
	EventTime      string           `json:"event_time"`
	Details        json.RawMessage  `json:"details"`
	Observables    []wireObservable `json:"observables"`
	Tags           []string         `json:"tags"`
	Queue          string           `json:"queue"`
	Instructions   *string          `json:"instructions"`
	SubmissionUUID string           `json:"submission_uuid,omitempty"`
}

// EncodeSubmission renders sub as the `analysis` form value that ace_api.py
// would send for it:
//   - empty analysis_mode/type/queue get ace_api's defaults; an empty tool
//     becomes "ace-collector" (ace_api would say "ace_api");
//   - company_id 0 and empty instructions are sent as null;
//   - event_time is formatted %Y-%m-%dT%H:%M:%S.%f%z in UTC; a zero time
//     is sent as "now", which is what ace_api.submit does for a missing
//     event_time (ACE's server would otherwise use its own clock, so the
//     effect is the same, but a receiver always gets the key);
//   - details default to {}; observables and tags to [];
//   - non-ASCII characters are escaped as \uXXXX like Python's json.dumps,
//     so the document is pure ASCII on the wire.
//
// now supplies the clock for a zero event_time.
func EncodeSubmission(sub *collector.Submission, now time.Time) ([]byte, error) {
	w := wireSubmission{
		AnalysisMode:   orDefault(sub.AnalysisMode, collector.DefaultAnalysisMode),
		Tool:           orDefault(sub.Tool, "ace-collector"),
		ToolInstance:   sub.ToolInstance,
		Type:           orDefault(sub.Type, collector.DefaultType),
		Description:    sub.Description,
		Details:        sub.Details,
		Observables:    make([]wireObservable, 0, len(sub.Observables)),
		Tags:           sub.Tags,
		Queue:          orDefault(sub.Queue, collector.DefaultQueue),
		SubmissionUUID: sub.UUID,
	}
	if sub.CompanyID != 0 {
		id := sub.CompanyID
		w.CompanyID = &id
	}
	if sub.Instructions != "" {
		ins := sub.Instructions
		w.Instructions = &ins
	}
	et := sub.EventTime
	if et.IsZero() {
		et = now
	}
	w.EventTime = FormatEventTime(et)
	if len(bytes.TrimSpace(w.Details)) == 0 || bytes.Equal(bytes.TrimSpace(w.Details), []byte("null")) {
		w.Details = json.RawMessage("{}")
	} else if !json.Valid(w.Details) {
		return nil, fmt.Errorf("submission %s: details are not valid JSON", sub.UUID)
	}
	if w.Tags == nil {
		w.Tags = []string{}
	}
	for _, o := range sub.Observables {
		wo := wireObservable{
			Type: o.Type, Value: o.Value,
			Tags: o.Tags, Directives: o.Directives, LimitedAnalysis: o.LimitedAnalysis,
		}
		if !o.Time.IsZero() {
			wo.Time = FormatEventTime(o.Time)
		}
		w.Observables = append(w.Observables, wo)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		return nil, fmt.Errorf("submission %s: encoding analysis JSON: %w", sub.UUID, err)
	}
	return asciiJSON(bytes.TrimRight(buf.Bytes(), "\n")), nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// asciiJSON escapes every non-ASCII character of a JSON document as \uXXXX
// (surrogate pairs above the BMP). Non-ASCII bytes only occur inside JSON
// strings, so a byte-level rewrite is safe. encoding/json has already
// replaced invalid UTF-8 with U+FFFD.
func asciiJSON(b []byte) []byte {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/4)
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			out = append(out, b[0])
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r > 0xFFFF {
			r -= 0x10000
			out = appendU(out, 0xD800+(r>>10))
			out = appendU(out, 0xDC00+(r&0x3FF))
			continue
		}
		out = appendU(out, r)
	}
	return out
}

func appendU(out []byte, r rune) []byte {
	out = append(out, '\\', 'u')
	h := strconv.FormatInt(int64(r), 16)
	for i := len(h); i < 4; i++ {
		out = append(out, '0')
	}
	return append(out, h...)
}
