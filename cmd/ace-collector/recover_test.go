package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/persistence"
)

// The real binary refuses to run on a damaged store with a message naming
// `recover`; `recover` salvages it without touching the backlog's files;
// the daemon then delivers every salvaged submission.
func TestRunRefusesDamagedStoreAndRecoverSalvages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	sinkDir := filepath.Join(dir, "sink")
	sink := startProc(t, bin, filepath.Join(dir, "sink.log"), "sink", "--http", "--listen", "127.0.0.1:0", "--dir", sinkDir)
	defer sink.stop(t, 10*time.Second)
	cfg := writeCrashConfig(t, dir, sink.waitLog(ctx, t, sinkAddrRE))
	c, err := daemon.LoadValid([]string{cfg})
	if err != nil {
		t.Fatal(err)
	}

	// A backlog of 300 submissions of ~2 KiB, then real damage.
	const n = 300
	store, err := persistence.Open(ctx, c.Store.Config)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < n; i++ {
		sub := collector.NewSubmission(fmt.Sprintf("backlog %d", i))
		pad := make([]byte, 2000)
		for j := range pad {
			pad[j] = 'a' + byte(rng.IntN(26))
		}
		sub.SetDetails(map[string]string{"pad": string(pad)})
		payload, _ := json.Marshal(sub)
		if _, _, err := store.Enqueue(ctx, collector.QueuedWork{UUID: sub.UUID, Type: "drop", Mode: sub.AnalysisMode,
			Payload: payload, Groups: []collector.GroupTarget{{Name: "main", Coverage: 100}}}); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	lostFiles := filepath.Join(c.IncomingDir, "00000000-0000-4000-8000-00000000dead")
	if err := os.MkdirAll(lostFiles, 0o750); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(lostFiles, "sample.bin"), []byte("files of a record that was lost"), 0o640)
	f, err := os.OpenFile(c.Store.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	junk := make([]byte, 2*4096)
	for i := range junk {
		junk[i] = byte(rng.IntN(256))
	}
	f.WriteAt(junk, st.Size()/2/4096*4096)
	f.Close()

	out, err := exec.CommandContext(ctx, bin, "run", "-c", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ace-collector recover -c") {
		t.Fatalf("run on a damaged store: %v; want a refusal naming `ace-collector recover -c`:\n%s", err, out)
	}
	t.Logf("run refused: %s", strings.TrimSpace(string(out)))

	out, err = exec.CommandContext(ctx, bin, "recover", "-c", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("recover: %v\n%s", err, out)
	}
	t.Logf("recover said:\n%s", out)
	damaged, _ := filepath.Glob(c.Store.Path + ".damaged-*")
	if len(damaged) == 0 || !strings.Contains(string(out), "incoming_workload") {
		t.Fatalf("no damaged file kept (%v) or no salvage report:\n%s", damaged, out)
	}
	if _, err := os.Stat(filepath.Join(damaged[0]+".incoming", filepath.Base(lostFiles), "sample.bin")); err != nil {
		t.Fatalf("files of the lost record were not set aside: %v", err)
	}

	store, err = persistence.Open(ctx, persistence.Config{Path: c.Store.Path, Shared: true})
	if err != nil {
		t.Fatalf("recovered store: %v", err)
	}
	salvaged, err := store.Backlog(ctx)
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	if salvaged < n*8/10 || salvaged > n {
		t.Fatalf("salvaged %d of %d", salvaged, n)
	}

	run := startProc(t, bin, filepath.Join(dir, "run.log"), "run", "-c", cfg)
	defer run.stop(t, 10*time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got, _ := readJournal(filepath.Join(sinkDir, "received.jsonl"))
		if int64(len(got)) >= salvaged {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("sink received %d of %d salvaged submissions; daemon log:\n%s", len(got), salvaged, run.tail())
		case <-run.done:
			t.Fatalf("daemon exited: %v\n%s", run.err, run.tail())
		case <-tick.C:
		}
	}
}
