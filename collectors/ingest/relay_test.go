package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collectors/ingest"
	"github.com/ace-collector/ace-collector/daemon"
)

const debianPython = "/usr/bin/python3"

// requirePython returns Debian's python3 with requests and tzlocal, or
// skips (fails when CI=true: .ci/run installs them).
func requirePython(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(debianPython, "-c", "import requests, tzlocal").CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("python3 with requests and tzlocal is needed (apt-get install python3-requests python3-tzlocal): %v %s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return debianPython
}

// ACE's Python client submits to the ingest collector of a real daemon
// over HTTPS; the submissions reach a downstream ACE-compatible node
// through the normal groups, files and fields intact (store and forward).
func TestACEClientRelayedToDownstreamNode(t *testing.T) {
	py := requirePython(t)
	recs := make(chan *api.Received, 10)
	node, err := api.NewServer(api.ServerOptions{Dir: t.TempDir(), OnSubmit: func(r *api.Received) { recs <- r }})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(node.Handler())
	defer hs.Close()
	dir := t.TempDir()
	cert, key, ca := writeTLS(t, dir)
	conf := fmt.Sprintf(`[global]
data_dir = %s
[node_downstream]
location = %s
[collection_group_main]
[collector_api_in]
type = ingest
listen = 127.0.0.1:0
tls_cert = %s
tls_key = %s
spool_dir = %s
tags = relayed
`, dir, hs.URL, cert, key, filepath.Join(dir, "spool"))
	cfg, p, err := daemon.LoadData("relay.ini", []byte(conf), daemon.LoadOptions{})
	if err == nil {
		err = p.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(context.Background(), cfg, daemon.Options{NoStatus: true, LogOutput: logOutput(),
		PollInterval: 20 * time.Millisecond, CleanupInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; d.Close() }()
	addr, err := cfg.Collectors[0].Collector.(*ingest.Collector).Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	attachment := filepath.Join(t.TempDir(), "attachment.txt")
	os.WriteFile(attachment, []byte("attached text ✓\n"), 0o600)
	cmd := exec.CommandContext(ctx, py, filepath.Join("..", "..", "api", "testdata", "ace_api", "run_submit.py"))
	cmd.Env = append(os.Environ(), "ACE_HOST="+addr.String(), "ACE_CA="+ca, "ACE_FILE="+attachment,
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost", "PYTHONIOENCODING=utf-8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, stderr.String())
	}
	var answered []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m struct {
			Submit struct{ Result struct{ UUID string } }
		}
		json.Unmarshal(sc.Bytes(), &m)
		if m.Submit.Result.UUID != "" {
			answered = append(answered, m.Submit.Result.UUID)
		}
	}
	if len(answered) != 2 {
		t.Fatalf("python output %s", out)
	}
	got := map[string]*api.Received{}
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for len(got) < 2 {
		select {
		case r := <-recs:
			got[r.SubmissionUUID] = r
		case <-guard.C:
			t.Fatalf("downstream received %d of 2", len(got))
		}
	}
	r := got[answered[0]]
	if r == nil || r.Description != "Python client: Grüße ✓" || r.Tool != "pytool" || r.ToolInstance != "pyhost" ||
		r.AnalysisMode != "correlation" || r.Queue != "pyqueue" || !slices.Contains(r.Tags, "relayed") || len(r.Observables) != 2 {
		t.Fatalf("downstream got %+v", r)
	}
	files := map[string]string{}
	for _, f := range r.Files {
		b, _ := os.ReadFile(f.Path)
		files[f.Name] = string(b)
	}
	if files["sub/dir/evil.txt"] != "attached text ✓\n" || files["mem.bin"] != "\x00\x01binary" {
		t.Fatalf("files %q", files)
	}
	if got[answered[1]] == nil || got[answered[1]].Description != "no files" {
		t.Fatalf("second submission %+v", got[answered[1]])
	}
}

func logOutput() io.Writer {
	if testing.Verbose() {
		return os.Stderr
	}
	return io.Discard
}
