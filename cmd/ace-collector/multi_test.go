package main

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

var multiN = flag.Int("multi.n", 2000, "submissions for the two-instance MySQL tests (issue: 20000)")

// countingNode is an in-process ACE-compatible receiver counting
// deliveries per file (the filedrop description names the file).
type countingNode struct {
	mu   sync.Mutex
	got  map[string]int
	hs   *httptest.Server
	wake chan struct{}
}

func newCountingNode(t *testing.T) *countingNode {
	t.Helper()
	n := &countingNode{got: map[string]int{}, wake: make(chan struct{}, 1)}
	srv, err := api.NewServer(api.ServerOptions{Dir: t.TempDir(), NoSync: true, OnSubmit: func(r *api.Received) {
		n.mu.Lock()
		n.got[r.Description]++
		n.mu.Unlock()
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.hs = httptest.NewServer(srv.Handler())
	t.Cleanup(n.hs.Close)
	return n
}

func (n *countingNode) counts() (distinct, total int, dups int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.got {
		distinct++
		total += c
		dups += c - 1
	}
	return
}

func (n *countingNode) waitDistinct(ctx context.Context, t *testing.T, want int) {
	t.Helper()
	for {
		if d, _, _ := n.counts(); d >= want {
			return
		}
		select {
		case <-n.wake:
		case <-time.After(100 * time.Millisecond): // also re-check periodically
		case <-ctx.Done():
			d, _, _ := n.counts()
			t.Fatalf("node %s: %d distinct submissions, want %d", n.hs.URL, d, want)
		}
	}
}

// multiConfig writes the config of one instance: MySQL store, shared
// incoming dir, its own spool, two groups each to its own node.
func multiConfig(t *testing.T, dir, name, dsn string, n1, n2 *countingNode) (cfg, spool string) {
	t.Helper()
	c, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(c.Addr, ":")
	spool = filepath.Join(dir, "spool-"+name)
	os.MkdirAll(spool, 0o750)
	cfg = filepath.Join(dir, name+".ini")
	text := fmt.Sprintf(`[global]
node = %[1]s
instance_name = %[1]s
data_dir = %[2]s/data-%[1]s
log_level = warn

[collection]
store = mysql
database = collection
incoming_dir = %[2]s/incoming
status_listen =
stale_lock_timeout = 4s
shutdown_grace = 2s

[database_collection]
hostname = %[3]s
port = %[4]s
username = %[5]s
password = %[6]s
database = %[7]s

[node_n1]
location = %[8]s
[node_n2]
location = %[9]s

[collection_group_g1]
target_nodes = n1
thread_count = 4
batch_size = 64
backoff_min = 50ms
backoff_max = 500ms
[collection_group_g2]
target_nodes = n2
thread_count = 4
batch_size = 64
backoff_min = 50ms
backoff_max = 500ms

[collector_spool]
type = filedrop
directory = %[10]s
description = {{.Name}}
rescan_interval = 200ms
`, name, dir, host, port, c.User, c.Passwd, c.DBName, n1.hs.URL, n2.hs.URL, spool)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, spool
}

func fillSpool(t *testing.T, spool, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%06d.txt", prefix, i)
		tmp := filepath.Join(spool, "."+name)
		if err := os.WriteFile(tmp, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(spool, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// Two `ace-collector run` processes on one MySQL queue, two groups: every
// (submission, group) pair is delivered exactly once.
func TestTwoInstancesExactlyOnce(t *testing.T) {
	dsn := mysqltest.NewDatabase(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	n1, n2 := newCountingNode(t), newCountingNode(t)
	cfgA, spoolA := multiConfig(t, dir, "a", dsn, n1, n2)
	cfgB, spoolB := multiConfig(t, dir, "b", dsn, n1, n2)
	half := *multiN / 2
	fillSpool(t, spoolA, "a", half)
	fillSpool(t, spoolB, "b", *multiN-half)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	pa := startProc(t, bin, filepath.Join(dir, "a.log"), "run", "-c", cfgA)
	pb := startProc(t, bin, filepath.Join(dir, "b.log"), "run", "-c", cfgB)
	n1.waitDistinct(ctx, t, *multiN)
	n2.waitDistinct(ctx, t, *multiN)
	took := time.Since(start)
	pa.stop(t, 20*time.Second)
	pb.stop(t, 20*time.Second)
	for i, n := range []*countingNode{n1, n2} {
		d, total, dups := n.counts()
		if d != *multiN || dups != 0 {
			t.Errorf("group g%d: %d distinct, %d deliveries, %d duplicates; want %d exactly once", i+1, d, total, dups, *multiN)
		}
	}
	t.Logf("two instances, MySQL queue: %d submissions × 2 groups delivered exactly once in %s (%.0f submissions/s end to end)",
		*multiN, took.Round(time.Millisecond), float64(*multiN)/took.Seconds())
}

// One instance is SIGKILLed mid-run; the survivor takes over its claims
// after the stale-claim timeout and finishes: nothing lost, duplicates only
// for what was in flight.
func TestTwoInstancesSurvivorFinishes(t *testing.T) {
	dsn := mysqltest.NewDatabase(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	n1, n2 := newCountingNode(t), newCountingNode(t)
	cfgA, spoolA := multiConfig(t, dir, "a", dsn, n1, n2)
	cfgB, _ := multiConfig(t, dir, "b", dsn, n1, n2)
	// A collects everything; both deliver.
	fillSpool(t, spoolA, "a", *multiN)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pa := startProc(t, bin, filepath.Join(dir, "a.log"), "run", "-c", cfgA)
	pb := startProc(t, bin, filepath.Join(dir, "b.log"), "run", "-c", cfgB)
	// Kill A once its spool is collected (the work is in the queue) and
	// delivery is under way.
	tick := time.NewTicker(20 * time.Millisecond)
	for {
		left, _ := filepath.Glob(filepath.Join(spoolA, "a-*"))
		d, _, _ := n1.counts()
		if len(left) == 0 && d > *multiN/10 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("instance a never collected its spool; log:\n%s", pa.tail())
		case <-tick.C:
		}
	}
	tick.Stop()
	pa.kill()
	n1.waitDistinct(ctx, t, *multiN)
	n2.waitDistinct(ctx, t, *multiN)
	pb.stop(t, 20*time.Second)
	for i, n := range []*countingNode{n1, n2} {
		d, total, dups := n.counts()
		if d != *multiN {
			t.Errorf("group g%d: %d distinct of %d", i+1, d, *multiN)
		}
		// In flight at the kill: at most thread_count × batch_size per group.
		if dups > 4*64 {
			t.Errorf("group g%d: %d duplicates, more than could have been in flight", i+1, dups)
		}
		t.Logf("group g%d after SIGKILL of one instance: %d distinct, %d deliveries, %d duplicates", i+1, d, total, dups)
	}
}
