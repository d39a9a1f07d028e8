package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

const debianPython = "/usr/bin/python3"

// requirePython returns Debian's python3 with requests and tzlocal, or
// skips (fails when CI=true: the compatibility check must run there).
func requirePython(t *testing.T) string {
	t.Helper()
	miss := func(why string) {
		msg := why + "; install with: apt-get install python3 python3-requests python3-tzlocal"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(debianPython); err != nil {
		miss(debianPython + " not found")
	}
	out, err := exec.Command(debianPython, "-c", "import requests, tzlocal").CombinedOutput()
	if err != nil {
		miss("python3 modules missing: " + string(bytes.TrimSpace(out)))
	}
	return debianPython
}

// TestACEPythonClient submits with ACE's Python client API (ace_api.py when
// ACE_API_PY points at its directory, otherwise the wire-faithful stand-in
// in testdata/ace_api) to ServeSink over HTTPS with the generated CA.
func TestACEPythonClient(t *testing.T) {
	py := requirePython(t)
	if real := os.Getenv("ACE_API_PY"); real != "" {
		t.Logf("using ACE's ace_api.py from %s", real)
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	var mu sync.Mutex
	var recs []*Received
	addr := startSink(t, SinkOptions{Dir: store, OnSubmit: func(r *Received) {
		mu.Lock()
		recs = append(recs, r)
		mu.Unlock()
	}})
	attachment := writeTestFile(t, dir, "attachment.txt", []byte("attached text ✓\n"))

	cmd := exec.CommandContext(testCtx(t), py, filepath.Join("testdata", "ace_api", "run_submit.py"))
	cmd.Env = append(os.Environ(),
		"ACE_HOST="+addr, "ACE_CA="+filepath.Join(store, "ca.pem"), "ACE_FILE="+attachment,
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost", "PYTHONIOENCODING=utf-8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client failed: %v\n%s", err, stderr.String())
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("python output %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("python output:\n%s\nstderr:\n%s", out, stderr.String())
	}
	t.Logf("python client: %v", lines[0]["client"])
	if !reflect.DeepEqual(lines[0]["ping"], map[string]any{"result": "pong"}) {
		t.Fatalf("ping answer %v", lines[0])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(recs) != 2 {
		t.Fatalf("%d submissions stored", len(recs))
	}
	for i, r := range recs {
		want := map[string]any{"result": map[string]any{"uuid": r.UUID}}
		if !reflect.DeepEqual(lines[i+1]["submit"], want) {
			t.Errorf("answer %d = %v, want %v", i, lines[i+1]["submit"], want)
		}
	}
	r := recs[0]
	if r.Description != "Python client: Grüße ✓" || r.AnalysisMode != "correlation" || r.Tool != "pytool" ||
		r.ToolInstance != "pyhost" || r.Type != "pytype" || r.CompanyID != 3 || r.Queue != "pyqueue" ||
		r.Instructions != "read me" || !reflect.DeepEqual(r.Tags, []string{"py", "tag2"}) {
		t.Errorf("fields: %+v", r)
	}
	if want := time.Date(2022, 1, 2, 8, 4, 5, 678901000, time.UTC); !r.EventTime.Equal(want) {
		t.Errorf("event_time %v, want %v", r.EventTime, want)
	}
	var details map[string]any
	json.Unmarshal(r.Details, &details)
	if details["k"] != "välue" {
		t.Errorf("details %s", r.Details)
	}
	if len(r.Observables) != 2 || r.Observables[0].Value != "192.0.2.7" || r.Observables[0].Tags[0] != "t1" ||
		r.Observables[0].Directives[0] != "no_scan" || r.Observables[1].LimitedAnalysis[0] != "m1" ||
		!r.Observables[1].Time.Equal(time.Date(2022, 1, 2, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("observables %+v", r.Observables)
	}
	files := map[string]string{}
	for _, f := range r.Files {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = string(b)
	}
	// ACE would have written "sub/dir/../evil.txt" to <storage>/sub/evil.txt;
	// here ".." segments are dropped and the file stays inside.
	want := map[string]string{"sub/dir/evil.txt": "attached text ✓\n", "mem.bin": "\x00\x01binary"}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	if r2 := recs[1]; r2.Description != "no files" || len(r2.Files) != 0 || r2.Tool != "ace_api" ||
		!r2.EventTime.Equal(time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("second submission %+v", r2)
	}
}
