package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// allCommands walks the command tree.
func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}

func TestHelpOnEveryCommandPrintsUsageOnStdoutAndExits0(t *testing.T) {
	cmds := allCommands(newRoot())
	if len(cmds) < 15 {
		t.Fatalf("only %d commands found", len(cmds))
	}
	for _, c := range cmds {
		path := strings.Fields(c.CommandPath())[1:]
		t.Run(strings.Join(append(path, "--help"), " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, append(path, "--help")...)
			if code != 0 || !strings.Contains(out, "Usage:") || errOut != "" {
				t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, _ := runCLI(t, args...)
		if code != 0 || !strings.HasPrefix(out, "ace-collector ") || len(strings.TrimSpace(out)) <= len("ace-collector ") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
}

func TestShellCompletionIsGenerated(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, _ := runCLI(t, "completion", sh)
		if code != 0 || !strings.Contains(out, "ace-collector") || len(out) < 500 {
			t.Errorf("completion %s: exit %d, %d bytes", sh, code, len(out))
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"nosuchcommand"},
		{"run"},                              // -c is required
		{"validate", "-c", "x.ini", "extra"}, // no positional arguments
		{"sample"},
		{"bench", "--node-fsync"},
		{"queue", "list", "--nosuchflag"},
	} {
		code, _, errOut := runCLI(t, args...)
		if code == 0 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestKindsAndSample(t *testing.T) {
	code, out, _ := runCLI(t, "kinds")
	if code != 0 {
		t.Fatalf("kinds: exit %d", code)
	}
	for _, k := range collector.Kinds() {
		if !strings.Contains(out, k.Name) || !strings.Contains(out, k.Summary) {
			t.Errorf("kinds output lacks %s: %s", k.Name, out)
		}
		code, sample, _ := runCLI(t, "sample", k.Name)
		if code != 0 || sample != string(k.Sample) {
			t.Errorf("sample %s: exit %d", k.Name, code)
		}
	}
	if code, _, _ := runCLI(t, "sample", "nosuchkind"); code != 2 {
		t.Errorf("sample of an unknown kind: exit %d, want 2", code)
	}
}

// Flags after positional arguments are parsed as flags: once, a --dry-run
// after the key was taken for a key name and the key was deleted.
func TestPersistenceClearFlagsAfterKeys(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.ini")
	conf := "[global]\nnode = t\n[collection]\nstatus_listen =\npersistence_dir = " + dir + "/p\nincoming_dir = " + dir + "/i\n" +
		"[node_a]\nlocation = http://127.0.0.1:1\n[collection_group_g]\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := persistence.Open(ctx, persistence.Config{Path: filepath.Join(dir, "p", "collection.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.KeyPut(ctx, "src", "bookmark", []byte("42"), true); err != nil {
		t.Fatal(err)
	}
	store.Close()

	code, out, errOut := runCLI(t, "persistence", "clear", "-c", cfg, "-s", "src", "bookmark", "--dry-run")
	if code != 0 || !strings.Contains(out, "would delete 1 keys (dry run)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "persistence", "list", "-c", cfg, "-k", "-s", "src")
	if code != 0 || !strings.Contains(out, "bookmark") {
		t.Fatalf("the dry run deleted the key: exit %d, %q", code, out)
	}
	code, out, _ = runCLI(t, "persistence", "clear", "-c", cfg, "bookmark", "-s", "src")
	if code != 0 || !strings.Contains(out, "deleted 1 keys") {
		t.Fatalf("clear with -s after the key: exit %d, %q", code, out)
	}
}
