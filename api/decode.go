package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// ACE server defaults for absent fields (aceapi/analysis/__init__.py with
// etc/saq.default.ini): [engine] default_analysis_mode, tool "api",
// tool_instance "api(<remote addr>)", [api] default_alert_type, queue
// QUEUE_DEFAULT.
const (
	serverDefaultAnalysisMode = "analysis"
	serverDefaultTool         = "api"
	serverDefaultType         = "default"
	serverDefaultQueue        = "default"
)

// decodeAnalysis validates the `analysis` JSON document the way ACE's
// submit endpoint does, in ACE's order and with ACE's 400 texts. It touches
// no files; the caller fills UUID, Files and ReceivedAt. Differences from
// ACE, all deliberate: malformed JSON or wrong value types are a 400 with
// a message (ACE: 500), a JSON null counts as absent (ACE: 500 for
// event_time), an empty description or observable value is rejected (ACE
// stores it or silently drops the observable), and an event_time or
// observable time of exactly 0001-01-01 00:00:00 UTC is rejected with its
// own message (ACE stores it; here the zero time means "no time").
func decodeAnalysis(doc string, companyName, remoteAddr string) (*Received, *httpError) {
	var r map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, badRequest("analysis field is not a valid JSON object: %v", err)
	}
	if r == nil {
		return nil, badRequest("analysis field is not a valid JSON object: null")
	}
	// dec.More is false before a stray '}' or ']', so ask for one more
	// token: only the end of the input is acceptable.
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("analysis field has data after the JSON object")
	}
	get := func(key string) (json.RawMessage, bool) {
		v, ok := r[key]
		if !ok || bytes.Equal(v, []byte("null")) {
			return nil, false
		}
		return v, true
	}
	str := func(key, def string) (string, *httpError) {
		v, ok := get(key)
		if !ok {
			return def, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", badRequest("%s must be a string, got %s", key, truncate(string(v), 100))
		}
		return s, nil
	}

	if cn, ok := get("company_name"); ok && companyName != "" {
		var s string
		if json.Unmarshal(cn, &s) != nil {
			s = string(cn)
		}
		if s != companyName {
			return nil, badRequest("wrong company %s (are you sending to the correct system?)", s)
		}
	}
	rec := &Received{}
	var herr *httpError
	if rec.Description, herr = str("description", ""); herr != nil {
		return nil, herr
	}
	if strings.TrimSpace(rec.Description) == "" {
		return nil, badRequest("missing description field in submission")
	}
	for _, f := range []struct {
		dst      *string
		key, def string
	}{
		{&rec.AnalysisMode, "analysis_mode", serverDefaultAnalysisMode},
		{&rec.Tool, "tool", serverDefaultTool},
		{&rec.ToolInstance, "tool_instance", fmt.Sprintf("api(%s)", remoteHost(remoteAddr))},
		{&rec.Type, "type", serverDefaultType},
		{&rec.Queue, "queue", serverDefaultQueue},
		{&rec.Instructions, "instructions", ""},
		{&rec.SubmissionUUID, "submission_uuid", ""},
	} {
		if *f.dst, herr = str(f.key, f.def); herr != nil {
			return nil, herr
		}
	}
	if v, ok := get("company_id"); ok {
		id, err := jsonInt(v)
		if err != nil {
			return nil, badRequest("company_id must be an integer, got %s", truncate(string(v), 100))
		}
		rec.CompanyID = id
	}
	rec.EventTime = time.Now()
	if v, ok := get("event_time"); ok {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		t, err := ParseEventTime(strings.TrimSpace(s), nil)
		if errors.Is(err, errZeroTime) {
			return nil, badRequest("invalid event_time %s: %v; leave event_time out for the time of receipt", s, errZeroTime)
		}
		if err != nil {
			return nil, badRequest("invalid event time format for %s (use %s format)", s, EventTimeFormat)
		}
		rec.EventTime = t
	}
	rec.Details = json.RawMessage("{}")
	if v, ok := get("details"); ok {
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return nil, badRequest("details is not valid JSON: %v", err)
		}
		rec.Details = buf.Bytes()
	}
	if rec.Tags, herr = stringList(r["tags"], "tags"); herr != nil {
		return nil, herr
	}
	if rec.Observables, herr = decodeObservables(r["observables"]); herr != nil {
		return nil, herr
	}
	rec.RemoteAddr = remoteAddr
	return rec, nil
}

func decodeObservables(raw json.RawMessage) ([]collector.Observable, *httpError) {
	out := []collector.Observable{}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return out, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, badRequest("observables must be a list of objects")
	}
	for i, item := range list {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(item, &o); err != nil || o == nil {
			return nil, badRequest("observable %d is not a JSON object", i)
		}
		var obs collector.Observable
		for _, field := range []string{"type", "value"} {
			v, ok := o[field]
			if !ok || bytes.Equal(v, []byte("null")) {
				return nil, badRequest("an observable is missing the %s field", field)
			}
		}
		if err := json.Unmarshal(o["type"], &obs.Type); err != nil || strings.TrimSpace(obs.Type) == "" {
			return nil, badRequest("an observable is missing the type field")
		}
		val, err := scalarString(o["value"])
		if err != nil {
			return nil, badRequest("observable %d (%s) has a value that is not a string", i, obs.Type)
		}
		if val == "" {
			return nil, badRequest("an observable is missing the value field")
		}
		obs.Value = val
		if v, ok := o["time"]; ok && !bytes.Equal(v, []byte("null")) {
			var s string
			if json.Unmarshal(v, &s) != nil {
				s = string(v)
			}
			t, err := ParseEventTime(strings.TrimSpace(s), nil)
			if errors.Is(err, errZeroTime) {
				return nil, badRequest("observable %d (%s) has an invalid time %s: %v; leave time out instead", i, obs.Type, s, errZeroTime)
			}
			if err != nil {
				return nil, badRequest("an observable has an invalid time format %s (use %s format)", s, EventTimeFormat)
			}
			obs.Time = t
		}
		var herr *httpError
		if obs.Tags, herr = stringList(o["tags"], "observable tags"); herr != nil {
			return nil, herr
		}
		if obs.Directives, herr = stringList(o["directives"], "observable directives"); herr != nil {
			return nil, herr
		}
		if obs.LimitedAnalysis, herr = stringList(o["limited_analysis"], "observable limited_analysis"); herr != nil {
			return nil, herr
		}
		if len(obs.Tags) == 0 {
			obs.Tags = nil
		}
		if len(obs.Directives) == 0 {
			obs.Directives = nil
		}
		if len(obs.LimitedAnalysis) == 0 {
			obs.LimitedAnalysis = nil
		}
		out = append(out, obs)
	}
	return out, nil
}

// stringList decodes a JSON list of strings; absent or null is empty.
func stringList(raw json.RawMessage, what string) ([]string, *httpError) {
	out := []string{}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return out, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, badRequest("%s must be a list of strings", what)
	}
	return out, nil
}

// scalarString accepts a JSON string, or a number/bool as its literal text
// (some tools send numeric observable values).
func scalarString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("not a scalar")
}

// jsonInt accepts an integer number or a string holding one.
func jsonInt(raw json.RawMessage) (int, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		n = json.Number(strings.TrimSpace(s))
	}
	v, err := strconv.ParseInt(n.String(), 10, 32)
	if err != nil {
		return 0, err
	}
	return int(v), nil
}

// remoteHost strips the port from a RemoteAddr, as Flask's remote_addr has
// none.
func remoteHost(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 && !strings.HasSuffix(addr, "]") {
		h := addr[:i]
		return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	}
	return addr
}
