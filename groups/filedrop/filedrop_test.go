package filedrop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/groups/filedrop"
	"github.com/ace-collector/ace-collector/groups/grouptest"
)

type document struct {
	UUID        string                 `json:"uuid"`
	Description string                 `json:"description"`
	Tool        string                 `json:"tool"`
	Observables []collector.Observable `json:"observables"`
	Details     map[string]any         `json:"details"`
	Files       []struct {
		Name, Path string
		Size       int64
	} `json:"files"`
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// format json: DIR/UUID/submission.json with the files under files/, whole
// (no temporary entry left), and the stored data deleted after.
func TestJSONDropWithFiles(t *testing.T) {
	drop := t.TempDir()
	p := grouptest.Start(t, grouptest.Group("archive", "filedrop", "directory = "+drop), daemon.Options{})
	sub := collector.NewSubmission("dropped \u00e9 alert")
	sub.Tool = "sensor"
	sub.AddObservable(collector.ObsIPv4, "198.51.100.9", "src")
	if err := sub.SetDetails(map[string]any{"rule": "r1"}); err != nil {
		t.Fatal(err)
	}
	grouptest.Attach(t, sub, "a.txt", []byte("first file"))
	grouptest.Attach(t, sub, "nested/dir/b.bin", []byte{0, 1, 2})
	p.Submit(sub)
	ctx := grouptest.Ctx(t)
	p.WaitUntil(ctx, "delivered and cleaned", func() bool { return p.Cleaned() })

	if got := entries(t, drop); len(got) != 1 || got[0] != sub.UUID {
		t.Fatalf("drop directory holds %v, want only %s", got, sub.UUID)
	}
	b, err := os.ReadFile(filepath.Join(drop, sub.UUID, "submission.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc document
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.UUID != sub.UUID || doc.Description != "dropped \u00e9 alert" || doc.Tool != "sensor" ||
		len(doc.Observables) != 1 || doc.Observables[0].Value != "198.51.100.9" || doc.Details["rule"] != "r1" {
		t.Errorf("document: %+v", doc)
	}
	want := map[string][]byte{"a.txt": []byte("first file"), "nested/dir/b.bin": {0, 1, 2}}
	if len(doc.Files) != 2 {
		t.Fatalf("files: %+v", doc.Files)
	}
	for _, f := range doc.Files {
		got, err := os.ReadFile(filepath.Join(drop, sub.UUID, filepath.FromSlash(f.Path)))
		if err != nil || !bytes.Equal(got, want[f.Name]) || f.Size != int64(len(want[f.Name])) || !strings.HasPrefix(f.Path, "files/") {
			t.Errorf("file %+v: %q %v", f, got, err)
		}
	}
	if p.Stats().Get("group:archive", "delivered") != 1 {
		t.Errorf("delivered = %d", p.Stats().Get("group:archive", "delivered"))
	}
}

// format eml: DIR/UUID.eml, an RFC 5322 envelope with the file attached.
func TestEMLDrop(t *testing.T) {
	drop := t.TempDir()
	p := grouptest.Start(t, grouptest.Group("dlp", "filedrop", "directory = "+drop, "format = eml",
		"from = ace <ace@collector.example>", "to = dlp@corp.example"), daemon.Options{})
	sub := collector.NewSubmission("mail alert")
	grouptest.Attach(t, sub, "report.pdf", []byte("%PDF-1.4 test"))
	p.Submit(sub)
	ctx := grouptest.Ctx(t)
	p.WaitUntil(ctx, "delivered and cleaned", func() bool { return p.Cleaned() })
	raw, err := os.ReadFile(filepath.Join(drop, sub.UUID+".eml"))
	if err != nil {
		t.Fatalf("%v; directory holds %v", err, entries(t, drop))
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Subject") != "mail alert" || msg.Header.Get("From") != "ace <ace@collector.example>" ||
		msg.Header.Get("To") != "dlp@corp.example" || msg.Header.Get("X-ACE-Submission-UUID") != sub.UUID {
		t.Errorf("headers: %v", msg.Header)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var names []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, part.FileName())
	}
	if strings.Join(names, ",") != ",submission.json,report.pdf" {
		t.Errorf("parts %q", names)
	}
}

// A drop directory that cannot be written is a transient failure: the
// item waits (never parked) and is written once the directory is back.
func TestUnwritableDirectoryWaits(t *testing.T) {
	drop := filepath.Join(t.TempDir(), "drop")
	p := grouptest.Start(t, grouptest.Group("archive", "filedrop", "directory = "+drop), daemon.Options{})
	// The directory is replaced by a file: nothing can be created in it.
	if err := os.Remove(drop); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(drop, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := collector.NewSubmission("waits")
	p.Submit(sub)
	ctx := grouptest.Ctx(t)
	p.WaitUntil(ctx, "a retry", func() bool { return p.Stats().Get("group:archive", "retried") >= 1 })
	if p.Count("archive", "ERROR") != 0 || p.Backlog() != 1 {
		t.Fatal("a transient failure parked the item or lost it")
	}
	if len(p.LogLines("level=WARN", "delivery failed; will retry", "kind=filesystem", "uuid="+sub.UUID)) == 0 {
		t.Error("no WARN with the failure's kind")
	}
	os.Remove(drop)
	if err := os.Mkdir(drop, 0o750); err != nil {
		t.Fatal(err)
	}
	p.WaitUntil(ctx, "delivered and cleaned", func() bool { return p.Cleaned() })
	if _, err := os.Stat(filepath.Join(drop, sub.UUID, "submission.json")); err != nil {
		t.Fatal(err)
	}
}

func openDelivery(t *testing.T, st *filedrop.Settings) groups.Delivery {
	t.Helper()
	typ, ok := groups.LookupType("filedrop")
	if !ok {
		t.Fatal("type filedrop is not registered")
	}
	d, err := typ.Open(groups.GroupConfig{Name: "g", Type: "filedrop", Settings: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// A stored file that is gone is permanent (parked for inspection); a
// second delivery of the same submission (at-least-once) keeps the first
// and succeeds; half-written entries of a crash are removed at start.
func TestDeliverClassifiesAndRedelivers(t *testing.T) {
	drop := t.TempDir()
	stale := filepath.Join(drop, ".tmp-crashed-123")
	if err := os.Mkdir(stale, 0o750); err != nil {
		t.Fatal(err)
	}
	old := mustTime(t, "2020-01-01T00:00:00Z")
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	d := openDelivery(t, &filedrop.Settings{Directory: drop, Format: "json"})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a stale temporary entry survived the start: %v", err)
	}
	sub := collector.NewSubmission("gone")
	sub.Files = []collector.File{{Path: filepath.Join(t.TempDir(), "missing"), Name: "x"}}
	err := d.Deliver(context.Background(), groups.Node{}, sub)
	if transient, kind := groups.Classify(err); err == nil || transient || kind != "local" {
		t.Fatalf("missing stored file: %v (transient %v, kind %q)", err, transient, kind)
	}
	if got := entries(t, drop); len(got) != 0 {
		t.Fatalf("a failed delivery left %v", got)
	}
	ok := collector.NewSubmission("twice")
	for i := range 2 {
		if err := d.Deliver(context.Background(), groups.Node{}, ok); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if got := entries(t, drop); len(got) != 1 || got[0] != ok.UUID {
		t.Fatalf("after two deliveries: %v", got)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
