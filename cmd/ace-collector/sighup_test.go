package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// SIGHUP reloads the configuration and the daemon keeps running; a
// configuration broken meanwhile is refused and it still keeps running.
func TestSIGHUPReloadsAndKeepsRunning(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.ini")
	conf := "[global]\nnode = hup\ndata_dir = " + dir + "\n[collection]\nstatus_listen =\n" +
		"[node_a]\nlocation = http://127.0.0.1:1\n[collection_group_g]\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, bin, filepath.Join(dir, "run.log"), "run", "-c", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p.waitLog(ctx, t, regexp.MustCompile(`msg="(ace-collector started)"`))

	os.WriteFile(cfg, []byte(conf+"[global]\nlog_level = debug\n"), 0o600) // a duplicate section: invalid
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(ctx, t, regexp.MustCompile(`(reload refused)`))

	os.WriteFile(cfg, []byte(conf+"[tuning_rule_t]\ntarget = description\nregex = noise\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(ctx, t, regexp.MustCompile(`configuration reloaded[^\n]*(tuning rules)`))
	if p.exited() {
		t.Fatalf("the daemon exited on SIGHUP:\n%s", p.tail())
	}
	p.stop(t, 30*time.Second)
}
