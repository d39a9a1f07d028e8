package email

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

const fixtures = "../common/mailparse/testdata"

// build makes a collector from section keys; it fails the test on config problems.
func build(t *testing.T, keys string) *Collector {
	t.Helper()
	c, probs := tryBuild(t, keys)
	if len(probs) > 0 {
		t.Fatalf("config problems: %v", probs)
	}
	return c
}

func tryBuild(t *testing.T, keys string) (*Collector, []error) {
	t.Helper()
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true}, []byte("[collector_mail]\n"+keys))
	if err != nil {
		t.Fatal(err)
	}
	var p collector.Problems
	sec := collector.NewSection(f.Section("collector_mail"), &p)
	col, err := New(sec, collector.Global{Hostname: "host1", BaseDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sec.Done()
	return col.(*Collector), p.List()
}

func copyFixture(t *testing.T, name, dst string, mod time.Time) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, b, mod)
}

func writeFile(t *testing.T, dst string, b []byte, mod time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	// Like an MDA: write NAME.new, then rename, so a running collector
	// never sees a partial file.
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mod, mod); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// start runs c and returns a stop function that waits for Run to return.
func start(t *testing.T, c *Collector, env *collector.Env) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, env) }()
	var once sync.Once
	stop := func() { once.Do(func() { stopWait(t, cancel, done) }) }
	t.Cleanup(stop)
	return stop
}

func stopWait(t *testing.T, cancel context.CancelFunc, done chan error) {
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Run did not return after cancel")
	}
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSpoolOldestFirstAndCleanup(t *testing.T) {
	spool := t.TempDir()
	c := build(t, "spool_dir = "+spool+"\nscan_interval = 10ms\nempty_dir_grace = 0s\n")
	now := time.Date(2024, 5, 20, 14, 30, 0, 0, time.Local)
	c.now = func() time.Time { return now }
	old := now.Add(-3 * time.Hour)
	// Two past hours, the current hour (empty), an in-progress file.
	copyFixture(t, "multipart_alternative.eml", filepath.Join(spool, "2024052012", "b"), old.Add(2*time.Minute))
	copyFixture(t, "header_only.eml", filepath.Join(spool, "2024052011", "a"), old.Add(time.Minute))
	copyFixture(t, "forward_nested.eml", filepath.Join(spool, "2024052012", "a"), old.Add(time.Minute))
	copyFixture(t, "iso8859_1.eml", filepath.Join(spool, "2024052013", "x.new"), old)
	for _, d := range []string{"2024052014", "2024052009"} {
		if err := os.Mkdir(filepath.Join(spool, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(spool, d), old, old); err != nil {
			t.Fatal(err)
		}
	}
	sink := collectortest.NewSink()
	env := collectortest.Env(t, "mail", sink, collectortest.NewState())
	logs := collectortest.RecordLogs(env)
	stop := start(t, c, env)
	subs, err := sink.WaitFor(waitCtx(t), 3)
	if err != nil {
		t.Fatalf("got %d submissions: %v", len(subs), err)
	}
	stop()
	logs.CheckStartStop(t, "directory")
	if dirs := c.InputDirs(); !slices.Equal(dirs, []string{spool}) {
		t.Errorf("InputDirs() = %v, want [%s]", dirs, spool)
	}
	var subjects []string
	for _, s := range subs {
		var d details
		if err := json.Unmarshal(s.Details, &d); err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, d.Subject)
	}
	want := []string{"no body at all", "Fwd: Invoice 2024-0042", "Action required: verify your account ✅"}
	if !slices.Equal(subjects, want) {
		t.Errorf("order: got %q, want %q", subjects, want)
	}
	for _, p := range []string{"2024052011/a", "2024052012/a", "2024052012/b"} {
		if _, err := os.Stat(filepath.Join(spool, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still in the spool after submit (%v)", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(spool, "2024052013", "x.new")); err != nil {
		t.Errorf(".new file touched: %v", err)
	}
	if _, err := os.Stat(filepath.Join(spool, "2024052014")); err != nil {
		t.Errorf("current hour directory removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(spool, "2024052009")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty past-hour directory kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(spool, "2024052013")); err != nil {
		t.Errorf("directory with an in-progress file removed: %v", err)
	}
	if got := env.Stats.Get("mail", "submitted"); got != 3 {
		t.Errorf("submitted counter = %d", got)
	}
}

func TestSubmissionFields(t *testing.T) {
	spool := t.TempDir()
	c := build(t, "spool_dir = "+spool+"\nscan_interval = 10ms\ntags = from-config\ngroup_assignments = g9\n")
	mod := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	copyFixture(t, "multipart_alternative.eml", filepath.Join(spool, "2024010203", "m1"), mod)
	writeFile(t, filepath.Join(spool, "2024010203", "m2"), []byte("From: a@b.example\r\nSubject: no date\r\n\r\nhi\r\n"), mod)
	sink := collectortest.NewSink()
	start(t, c, collectortest.Env(t, "mail", sink, collectortest.NewState()))
	subs, err := sink.WaitFor(waitCtx(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(filepath.Join(fixtures, "multipart_alternative.eml"))
	byDesc := map[string]*collector.Submission{}
	for _, s := range subs {
		byDesc[s.Description] = s
	}
	s := byDesc["ACE Mailbox Scanner Detection - Action required: verify your account ✅"]
	if s == nil {
		t.Fatalf("descriptions: %v", byDesc)
	}
	if s.AnalysisMode != "email" || s.Type != "mailbox" || s.Tool != Tool || s.ToolInstance != "test-host" ||
		!slices.Equal(s.Tags, []string{"from-config"}) || !slices.Equal(s.GroupAssignments, []string{"g9"}) {
		t.Errorf("fields: %+v", s)
	}
	if want := time.Date(2024, 5, 14, 9, 12, 30, 0, time.UTC); !s.EventTime.Equal(want) {
		t.Errorf("event_time %v, want Date header %v", s.EventTime, want)
	}
	if len(s.Files) != 1 || s.Files[0].Name != "email.rfc822" || !s.Files[0].DeleteSource {
		t.Errorf("files: %+v", s.Files)
	}
	if got := sink.Contents[s.UUID]["email.rfc822"]; string(got) != string(orig) {
		t.Errorf("attached file differs from the original (%d vs %d bytes)", len(got), len(orig))
	}
	var file *collector.Observable
	for i, o := range s.Observables {
		if o.Type == collector.ObsFile {
			file = &s.Observables[i]
		}
	}
	if file == nil || file.Value != "email.rfc822" ||
		!slices.Equal(file.Directives, []string{"no_scan", "original_email", "archive"}) {
		t.Errorf("file observable: %+v", file)
	}
	if !hasObs(s, "email_address", "security@example-bank.com") || !hasObs(s, "url", "https://login.example-bank.com/verify?id=42&t=1") {
		t.Errorf("extracted observables missing: %+v", s.Observables)
	}
	nd := byDesc["ACE Mailbox Scanner Detection - no date"]
	if nd == nil || !nd.EventTime.Equal(mod) {
		t.Errorf("message without Date: event_time should be the file time %v: %+v", mod, nd)
	}
	if !strings.Contains(string(nd.Details), `"event_time_source":"file_time"`) {
		t.Errorf("details: %s", nd.Details)
	}
}

func hasObs(s *collector.Submission, typ, val string) bool {
	for _, o := range s.Observables {
		if o.Type == typ && o.Value == val {
			return true
		}
	}
	return false
}

// flakySink fails while fail is set and reports every attempt.
type flakySink struct {
	*collectortest.Sink
	mu       sync.Mutex
	err      error
	attempts chan struct{}
}

func (f *flakySink) Submit(ctx context.Context, s *collector.Submission) error {
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	select {
	case f.attempts <- struct{}{}:
	default:
	}
	if err != nil {
		return err
	}
	return f.Sink.Submit(ctx, s)
}

func TestStoreFailureKeepsFileAndRetries(t *testing.T) {
	spool := t.TempDir()
	c := build(t, "spool_dir = "+spool+"\nretry_backoff = 5ms\nretry_max_backoff = 20ms\nscan_interval = 10ms\n")
	path := filepath.Join(spool, "2024010203", "m")
	copyFixture(t, "header_only.eml", path, time.Now())
	sink := &flakySink{Sink: collectortest.NewSink(), err: errors.New("database is down"), attempts: make(chan struct{}, 1)}
	env := collectortest.Env(t, "mail", sink, collectortest.NewState())
	start(t, c, env)
	ctx := waitCtx(t)
	for range 3 { // several failed attempts
		select {
		case <-sink.attempts:
		case <-ctx.Done():
			t.Fatal("no submit attempt")
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("file removed although Submit failed: %v", err)
	}
	sink.mu.Lock()
	sink.err = nil
	sink.mu.Unlock()
	if _, err := sink.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if env.Stats.Get("mail", "submit_retry") == 0 {
		t.Error("retries not counted")
	}
}

func TestInvalidSubmissionMovedAside(t *testing.T) {
	spool := t.TempDir()
	errDir := t.TempDir()
	c := build(t, "spool_dir = "+spool+"\nerror_dir = "+errDir+"\nscan_interval = 10ms\n")
	path := filepath.Join(spool, "2024010203", "m")
	copyFixture(t, "header_only.eml", path, time.Now())
	sink := &flakySink{Sink: collectortest.NewSink(), err: fmt.Errorf("%w: nope", collector.ErrInvalid), attempts: make(chan struct{}, 1)}
	env := collectortest.Env(t, "mail", sink, collectortest.NewState())
	stop := start(t, c, env)
	select {
	case <-sink.attempts:
	case <-waitCtx(t).Done():
		t.Fatal("no submit attempt")
	}
	stop()
	if env.Stats.Get("mail", "dropped_invalid") != 1 {
		t.Errorf("invalid drop not counted once: %d", env.Stats.Get("mail", "dropped_invalid"))
	}
	moved, _ := filepath.Glob(filepath.Join(errDir, "m.*"))
	if len(moved) != 1 {
		t.Errorf("message not moved to error_dir: %v", moved)
	}
}

func TestOversizedMessageSubmittedWithHeaderOnly(t *testing.T) {
	spool := t.TempDir()
	c := build(t, "spool_dir = "+spool+"\nscan_interval = 10ms\nmax_parse_size = 1k\n")
	copyFixture(t, "multipart_alternative.eml", filepath.Join(spool, "2024010203", "big"), time.Now())
	sink := collectortest.NewSink()
	env := collectortest.Env(t, "mail", sink, collectortest.NewState())
	start(t, c, env)
	subs, err := sink.WaitFor(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(filepath.Join(fixtures, "multipart_alternative.eml"))
	var d details
	if err := json.Unmarshal(subs[0].Details, &d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.ParseError, "max_parse_size") || d.Subject == "" || d.Size != len(orig) {
		t.Errorf("details: parse_error %q subject %q size %d", d.ParseError, d.Subject, d.Size)
	}
	if len(sink.Contents[subs[0].UUID][FileName]) != len(orig) {
		t.Error("the whole message must be attached")
	}
	if env.Stats.Get("mail", "parse_error") != 1 {
		t.Error("parse error not counted")
	}
}
