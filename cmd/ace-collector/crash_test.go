package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var crashLong = flag.Bool("crash.long", false, "crash test: 5000 files and 20 kills instead of 300 and 10")

// crashRig is a sink subprocess, a config, a spool dir and the daemon
// subprocess that is killed and restarted.
type crashRig struct {
	t        *testing.T
	bin, dir string
	sinkDir  string
	sinkAddr string
	sink     *proc
	run      *proc
	cfg      string
	starts   int
	// sinkKills counts SIGKILLs of the sink.
	sinkKills int
}

func (r *crashRig) startSink(ctx context.Context, listen string) {
	r.t.Helper()
	r.starts++
	r.sink = startProc(r.t, r.bin, filepath.Join(r.dir, fmt.Sprintf("sink-%03d.log", r.starts)),
		"sink", "--http", "--listen", listen, "--dir", r.sinkDir)
	r.sinkAddr = r.sink.waitLog(ctx, r.t, sinkAddrRE)
}

func (r *crashRig) startRun() {
	r.t.Helper()
	r.starts++
	r.run = startProc(r.t, r.bin, filepath.Join(r.dir, fmt.Sprintf("run-%03d.log", r.starts)), "run", "-c", r.cfg)
}

func (r *crashRig) received() int {
	e, _ := readJournal(filepath.Join(r.sinkDir, "received.jsonl"))
	return len(e)
}

// waitReceived waits until the sink's journal holds at least n entries;
// the daemon must stay alive meanwhile.
func (r *crashRig) waitReceived(ctx context.Context, n int) {
	r.t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for r.received() < n {
		select {
		case <-ctx.Done():
			r.t.Fatalf("sink has %d submissions, waited for %d; daemon log:\n%s", r.received(), n, r.run.tail())
		case <-r.run.done:
			r.t.Fatalf("daemon exited (%v); log:\n%s", r.run.err, r.run.tail())
		case <-tick.C:
		}
	}
}

func writeCrashConfig(t *testing.T, dir, sinkAddr string) string {
	t.Helper()
	cfg := fmt.Sprintf(`[global]
node = crash
instance_name = crash
data_dir = %[1]s/data
[collection]
persistence_dir = %[1]s/persistence
incoming_dir = %[1]s/incoming
status_listen = 127.0.0.1:0
shutdown_grace = 2s
[node_sink]
location = http://%[2]s
[collection_group_main]
coverage = 100
full_delivery = yes
target_nodes = sink
thread_count = 2
batch_size = 8
timeout = 5s
backoff_min = 20ms
backoff_max = 300ms
[collector_drop]
type = filedrop
directory = %[1]s/spool
rescan_interval = 200ms
retry_backoff = 50ms
retry_max_backoff = 500ms
`, dir, sinkAddr)
	p := filepath.Join(dir, "crash.ini")
	if err := os.WriteFile(p, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	return p
}

// dropFiles writes n files with distinct random content into spool (as
// NAME.new, renamed to NAME once complete) and returns their sha256s.
func dropFiles(t *testing.T, spool string, n int, r *rand.Rand) map[string]string {
	t.Helper()
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range n {
		buf := make([]byte, 64+r.IntN(16<<10))
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		name := fmt.Sprintf("f-%05d.bin", i)
		tmp := filepath.Join(spool, name+".new")
		if err := os.WriteFile(tmp, buf, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(spool, name)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(buf)
		want[hex.EncodeToString(sum[:])] = name
	}
	return want
}

// sinkContents hashes every file the sink stored: sha256 → copies.
func sinkContents(t *testing.T, sinkDir string) map[string]int {
	t.Helper()
	got := map[string]int{}
	err := filepath.WalkDir(sinkDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".incoming-") {
			return fs.SkipDir // a partial upload the sink discards at start-up
		}
		if d.IsDir() || filepath.Base(filepath.Dir(p)) != "files" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		got[hex.EncodeToString(sum[:])]++
		return nil
	})
	if err != nil {
		t.Fatalf("reading sink storage: %v", err)
	}
	return got
}

// TestCrashRecovery SIGKILLs the daemon (and once the sink, mid-delivery)
// at random moments while it moves a spool of files to the sink, and
// checks that every file arrives at least once.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	files, kills := 300, 10
	if *crashLong {
		files, kills = 5000, 20
	}
	timeout := 3 * time.Minute
	if *crashLong {
		timeout = 15 * time.Minute
	}
	bin := buildBinary(t) // before the deadline starts: a cold build is slow
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 7))
	began := time.Now()

	dir := t.TempDir()
	r := &crashRig{t: t, bin: bin, dir: dir, sinkDir: filepath.Join(dir, "sink")}
	r.startSink(ctx, "127.0.0.1:0")
	r.cfg = writeCrashConfig(t, dir, r.sinkAddr)
	want := dropFiles(t, filepath.Join(dir, "spool"), files, rnd)
	r.startRun()

	// kills daemon kills, and one sink kill half way.
	sinkKillAt := kills / 2
	for k, daemonKills := 0, 0; k <= kills; k++ {
		// Progress since the last kill, then a random further amount: the
		// kill lands while files are being submitted and delivered.
		step := 1 + rnd.IntN(max(1, files/(2*kills)))
		target := min(r.received()+step, files)
		r.waitReceived(ctx, target)
		if k == sinkKillAt {
			r.killSinkMidUpload(ctx, began)
			continue
		}
		r.run.kill()
		daemonKills++
		t.Logf("%s: kill %d of daemon at %d received", time.Since(began).Round(time.Millisecond), daemonKills, r.received())
		r.startRun()
	}
	// Drain: every file's content must reach the sink.
	r.waitReceived(ctx, files)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var got map[string]int
	for {
		got = sinkContents(t, r.sinkDir)
		missing := 0
		for sum := range want {
			if got[sum] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		select {
		case <-ctx.Done():
			for sum, name := range want {
				if got[sum] == 0 {
					t.Errorf("lost: %s (sha256 %s)", name, sum)
				}
			}
			t.Fatalf("%d of %d files never reached the sink; daemon log:\n%s", missing, files, r.run.tail())
		case <-tick.C:
		}
	}
	dups := 0
	for sum, n := range got {
		if _, ok := want[sum]; !ok {
			t.Errorf("sink holds a file that was never dropped (sha256 %s)", sum)
		}
		dups += n - 1
	}
	t.Logf("%s: %d files delivered through %d daemon kills and %d sink kill(s); %d duplicate deliveries (items in flight at a kill)",
		time.Since(began).Round(time.Millisecond), files, kills, r.sinkKills, dups)
	// The daemon removes each file once it is durably queued.
	for left := spoolLeft(t, filepath.Join(dir, "spool")); len(left) > 0; left = spoolLeft(t, filepath.Join(dir, "spool")) {
		select {
		case <-ctx.Done():
			t.Fatalf("files left in the spool after delivery: %v", left)
		case <-tick.C:
		}
	}
	r.run.stop(t, 30*time.Second)
	if logs := r.run.tail(); regexp.MustCompile(`level=ERROR`).MatchString(logs) {
		t.Errorf("ERROR lines in the last daemon log:\n%s", logs)
	}
	r.sink.stop(t, 30*time.Second)
	t.Logf("%s: daemon and sink stopped", time.Since(began).Round(time.Millisecond))
}

// spoolLeft lists regular files still in the spool (not in dot-dirs).
func spoolLeft(t *testing.T, spool string) []string {
	t.Helper()
	entries, err := os.ReadDir(spool)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			left = append(left, e.Name())
		}
	}
	return left
}

// killSinkMidUpload SIGKILLs the sink while deliveries flow and restarts it
// on the same port. A kill that hits no upload in progress (the restarted
// sink found no partial submission to remove) is retried after more
// progress; the test fails if 20 kills all miss, since then it did not
// test what it says.
func (r *crashRig) killSinkMidUpload(ctx context.Context, began time.Time) {
	r.t.Helper()
	for try := 1; ; try++ {
		r.sink.kill()
		r.sinkKills++
		r.t.Logf("%s: kill sink at %d received", time.Since(began).Round(time.Millisecond), r.received())
		r.startSink(ctx, r.sinkAddr)
		b, _ := os.ReadFile(r.sink.log)
		if strings.Contains(string(b), "removed partial submission") {
			r.t.Logf("the sink was killed mid-upload (its restart removed a partial submission)")
			return
		}
		if try == 20 {
			r.t.Errorf("%d sink kills hit no upload in progress: the mid-upload kill was not exercised", try)
			return
		}
		r.waitReceived(ctx, r.received()+1)
	}
}
