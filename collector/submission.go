package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Defaults ACE's client applies to absent submission fields.
const (
	DefaultAnalysisMode = "analysis"
	DefaultQueue        = "default"
	DefaultType         = "generic"
)

// File is a file attached to a submission. Path is where the runtime reads
// it from (after staging: inside incoming_dir/<uuid>/); Name is the
// destination name the ACE node stores it under.
type File struct {
	Path string `json:"path"`
	Name string `json:"name"`
	// DeleteSource asks the runtime to remove Path once the submission is
	// durable (a "move"); otherwise the source is left alone (a "copy").
	DeleteSource bool `json:"-"`
}

// Submission is one unit of work for an ACE node: ACE's submission JSON
// plus what the collector pipeline needs to route and stage it.
type Submission struct {
	UUID         string          `json:"uuid"`
	Description  string          `json:"description"`
	AnalysisMode string          `json:"analysis_mode"`
	Tool         string          `json:"tool"`
	ToolInstance string          `json:"tool_instance"`
	Type         string          `json:"type"`
	EventTime    time.Time       `json:"event_time,omitzero"`
	Details      json.RawMessage `json:"details,omitempty"`
	Observables  []Observable    `json:"observables,omitempty"`
	Tags         []string        `json:"tags,omitempty"`
	Queue        string          `json:"queue,omitempty"`
	Instructions string          `json:"instructions,omitempty"`
	CompanyID    int             `json:"company_id,omitempty"`
	// Rank is the priority the source gave the event (intrusion priority,
	// CEF or syslog severity, ...) as the source states it; 0 means none.
	// It is shown in the live view and not sent to ACE.
	Rank int `json:"rank,omitempty"`

	Files            []File   `json:"files,omitempty"`
	GroupAssignments []string `json:"group_assignments,omitempty"`
	// DedupKey, when set, makes the runtime drop a later submission with
	// the same key from the same collector while the key is remembered.
	DedupKey string `json:"dedup_key,omitempty"`
}

// NewSubmission returns a submission with a fresh uuid and ACE's defaults.
func NewSubmission(description string) *Submission {
	return &Submission{
		UUID:         uuid.NewString(),
		Description:  description,
		AnalysisMode: DefaultAnalysisMode,
		Type:         DefaultType,
		Queue:        DefaultQueue,
	}
}

// SetDetails stores v as the submission's JSON details.
func (s *Submission) SetDetails(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("submission %s: encoding details: %w", s.UUID, err)
	}
	s.Details = b
	return nil
}

// AddObservable appends an observable.
func (s *Submission) AddObservable(typ, value string, tags ...string) {
	s.Observables = append(s.Observables, Observable{Type: typ, Value: value, Tags: tags})
}

// AddFile attaches the file at path under the destination name.
func (s *Submission) AddFile(path, name string) {
	s.Files = append(s.Files, File{Path: path, Name: name})
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid submission")

// Validate checks what ACE's server would reject, plus file names.
func (s *Submission) Validate() error {
	var errs []error
	if strings.TrimSpace(s.Description) == "" {
		errs = append(errs, errors.New("missing description"))
	}
	if s.UUID != "" {
		if _, err := uuid.Parse(s.UUID); err != nil {
			errs = append(errs, fmt.Errorf("uuid %q is not a uuid", s.UUID))
		}
	}
	for i, o := range s.Observables {
		if o.Type == "" {
			errs = append(errs, fmt.Errorf("observable %d is missing the type field", i))
		}
		if o.Value == "" {
			errs = append(errs, fmt.Errorf("observable %d (%s) is missing the value field", i, o.Type))
		}
	}
	if len(s.Details) > 0 && !json.Valid(s.Details) {
		errs = append(errs, errors.New("details is not valid JSON"))
	}
	for i, f := range s.Files {
		if f.Path == "" {
			errs = append(errs, fmt.Errorf("file %d has no path", i))
		}
		if _, err := SafeName(f.Name); err != nil {
			errs = append(errs, fmt.Errorf("file %d: %w", i, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w %q: %w", ErrInvalid, s.Description, errors.Join(errs...))
}

// SafeName turns a client- or source-supplied file name into a relative
// slash path that cannot leave the directory it is joined to: absolute
// prefixes, backslashes, "..", "." and empty segments are removed; NUL and
// control characters are rejected.
func SafeName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty file name")
	}
	for _, r := range name {
		if r == 0 || r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("file name %q contains a control character", name)
		}
	}
	name = strings.ReplaceAll(name, "\\", "/")
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".", "..":
			continue
		}
		// A Windows drive prefix like "C:" is meaningless here.
		if len(parts) == 0 && len(p) == 2 && p[1] == ':' {
			continue
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("file name %q has no usable component", name)
	}
	clean := path.Join(parts...)
	if len(clean) > 1024 {
		return "", fmt.Errorf("file name %q is longer than 1024 bytes", name[:64]+"...")
	}
	return clean, nil
}

// queuedCopy returns a copy of s that shares nothing mutable with it, for
// QueuedWork.Sub: the collector may reuse s once Submit returns.
func (s *Submission) queuedCopy() *Submission {
	c := *s
	c.Details = bytes.Clone(s.Details)
	c.Observables = slices.Clone(s.Observables)
	for i := range c.Observables {
		o := &c.Observables[i]
		o.Tags, o.Directives, o.LimitedAnalysis = slices.Clone(o.Tags), slices.Clone(o.Directives), slices.Clone(o.LimitedAnalysis)
	}
	c.Tags = slices.Clone(s.Tags)
	c.Files = slices.Clone(s.Files)
	c.GroupAssignments = slices.Clone(s.GroupAssignments)
	return &c
}
