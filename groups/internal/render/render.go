// Package render turns a stored submission into what the group types
// deliver: a JSON document, a text/template over the submission, and an
// RFC 5322 (EML) envelope with the files attached.
package render

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// Document is a submission as the JSON formats deliver it: ACE's
// submission fields (snake_case, as ACE names them), the uuid for
// deduplication, and the files by name.
type Document struct {
	UUID         string                 `json:"uuid"`
	Description  string                 `json:"description"`
	AnalysisMode string                 `json:"analysis_mode"`
	Tool         string                 `json:"tool"`
	ToolInstance string                 `json:"tool_instance"`
	Type         string                 `json:"type"`
	EventTime    string                 `json:"event_time,omitempty"`
	Details      json.RawMessage        `json:"details,omitempty"`
	Observables  []collector.Observable `json:"observables"`
	Tags         []string               `json:"tags"`
	Queue        string                 `json:"queue,omitempty"`
	Instructions string                 `json:"instructions,omitempty"`
	CompanyID    int                    `json:"company_id,omitempty"`
	Files        []FileRef              `json:"files"`
}

// FileRef names one attached file. Path is set where the file was written
// beside the document (relative to it); Size when known.
type FileRef struct {
	Name string `json:"name"`
	Path string `json:"path,omitempty"`
	Size int64  `json:"size,omitempty"`
}

// NewDocument returns sub's document. Files are named; sizes are filled
// from the stored files when stat is true (a missing file is an error:
// see FileError).
func NewDocument(sub *collector.Submission, stat bool) (*Document, error) {
	d := &Document{
		UUID: sub.UUID, Description: sub.Description, AnalysisMode: sub.AnalysisMode, Tool: sub.Tool,
		ToolInstance: sub.ToolInstance, Type: sub.Type, Details: sub.Details, Observables: sub.Observables,
		Tags: sub.Tags, Queue: sub.Queue, Instructions: sub.Instructions, CompanyID: sub.CompanyID,
		Files: make([]FileRef, 0, len(sub.Files)),
	}
	if !sub.EventTime.IsZero() {
		d.EventTime = sub.EventTime.UTC().Format(time.RFC3339Nano)
	}
	if d.Observables == nil {
		d.Observables = []collector.Observable{}
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	for _, f := range sub.Files {
		ref := FileRef{Name: f.Name}
		if stat {
			st, err := os.Stat(f.Path)
			if err != nil {
				return nil, &FileError{Name: f.Name, Err: err}
			}
			ref.Size = st.Size()
		}
		d.Files = append(d.Files, ref)
	}
	return d, nil
}

// FileError is a stored file of the submission that cannot be read: no
// retry brings it back, so the types report it as a permanent failure.
type FileError struct {
	Name string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("attachment %s: %v", e.Name, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// Data is what a template sees: the submission's fields, its details
// decoded, and for a per-observable line the observable (else nil).
type Data struct {
	UUID         string
	Description  string
	AnalysisMode string
	Tool         string
	ToolInstance string
	Type         string
	Queue        string
	Instructions string
	CompanyID    int
	EventTime    time.Time // zero when the source gave none
	Details      any
	Observables  []collector.Observable
	Tags         []string
	Files        []string // the files' names
	Group        string   // the group delivering
	Observable   *collector.Observable
}

// NewData returns the template data of sub for group.
func NewData(sub *collector.Submission, group string) *Data {
	d := &Data{UUID: sub.UUID, Description: sub.Description, AnalysisMode: sub.AnalysisMode, Tool: sub.Tool,
		ToolInstance: sub.ToolInstance, Type: sub.Type, Queue: sub.Queue, Instructions: sub.Instructions,
		CompanyID: sub.CompanyID, EventTime: sub.EventTime, Observables: sub.Observables, Tags: sub.Tags, Group: group}
	if len(sub.Details) > 0 {
		_ = json.Unmarshal(sub.Details, &d.Details) // Validate checked it is JSON
	}
	for _, f := range sub.Files {
		d.Files = append(d.Files, f.Name)
	}
	return d
}

// First returns the value of the first observable of type typ ("" if none).
func (d *Data) First(typ string) string {
	for _, o := range d.Observables {
		if o.Type == typ {
			return o.Value
		}
	}
	return ""
}

// Values returns the values of every observable of type typ.
func (d *Data) Values(typ string) []string {
	var out []string
	for _, o := range d.Observables {
		if o.Type == typ {
			out = append(out, o.Value)
		}
	}
	return out
}

// Funcs are the functions every template may call besides text/template's:
// json (a value as JSON), join (strings with a separator), rfc3339 and
// unixMilli (times; a zero time renders as the empty string or 0), lower,
// upper, and oneLine (CR, LF and tabs as spaces).
func Funcs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"join": strings.Join,
		"rfc3339": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339Nano)
		},
		"unixMilli": func(t time.Time) int64 {
			if t.IsZero() {
				return 0
			}
			return t.UnixMilli()
		},
		"lower":   strings.ToLower,
		"upper":   strings.ToUpper,
		"oneLine": OneLine,
	}
}

// ParseTemplate parses text as a template named name with Funcs and extra.
// A missing key is an error, so a typo fails the delivery instead of
// sending "<no value>".
func ParseTemplate(name, text string, extra template.FuncMap) (*template.Template, error) {
	t := template.New(name).Option("missingkey=error").Funcs(Funcs())
	if extra != nil {
		t = t.Funcs(extra)
	}
	return t.Parse(text)
}

// OneLine replaces CR, LF and tab with spaces.
func OneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}
