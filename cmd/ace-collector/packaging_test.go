package main

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's build command (CGO_ENABLED=0 go build ./cmd/ace-collector)
// makes a static binary: no ELF interpreter, so it runs on any Linux and in
// a distroless image.
func TestBuildIsStatic(t *testing.T) {
	bin := buildBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s has an ELF interpreter: not a static binary", bin)
		}
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "ace-collector ") {
		t.Fatalf("version: %v %s", err, out)
	}
}

// unitLines returns the KEY=VALUE lines of a systemd unit or Dockerfile
// instructions, by key.
func unitLines(t *testing.T, path, sep string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		if k, v, ok := strings.Cut(line, sep); ok {
			out[k] = append(out[k], strings.TrimSpace(v))
		}
	}
	return out
}

// commandExists reports whether the words after the binary name a real
// command with flags it accepts.
func commandExists(t *testing.T, words []string) {
	t.Helper()
	cmd, rest, err := newRoot().Find(words)
	if err != nil || cmd.Parent() == nil || !cmd.Runnable() {
		t.Fatalf("%v is not an ace-collector command: %v", words, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("%v: %v", words, err)
	}
}

func TestSystemdUnit(t *testing.T) {
	u := unitLines(t, "../../packaging/ace-collector.service", "=")
	if got := u["ExecReload"]; len(got) != 1 || got[0] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload = %q, want SIGHUP to the daemon", got)
	}
	for _, key := range []string{"ExecStart", "ExecStartPre"} {
		if len(u[key]) != 1 {
			t.Fatalf("%s: %q", key, u[key])
		}
		words := strings.Fields(u[key][0])
		if words[0] != "/usr/local/bin/ace-collector" {
			t.Errorf("%s runs %s", key, words[0])
		}
		commandExists(t, words[1:])
	}
	if !strings.HasPrefix(u["ExecStart"][0], "/usr/local/bin/ace-collector run ") {
		t.Errorf("ExecStart = %q", u["ExecStart"][0])
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := exec.Command(sa, "verify", "../../packaging/ace-collector.service").CombinedOutput(); err != nil &&
			strings.Contains(string(out), "ace-collector.service:") && !strings.Contains(string(out), "/usr/local/bin/ace-collector") {
			t.Errorf("systemd-analyze verify: %s", out)
		}
	}
}

func TestDockerfileBuildsStaticAndRunsTheDaemon(t *testing.T) {
	d := unitLines(t, "../../Dockerfile", " ")
	build := strings.Join(d["RUN"], "\n")
	if !strings.Contains(build, "CGO_ENABLED=0 go build") || !strings.Contains(build, "./cmd/ace-collector") {
		t.Errorf("Dockerfile does not build a static binary: %s", build)
	}
	var words []string
	for _, w := range strings.Split(strings.Trim(d["CMD"][0], "[]"), ",") {
		words = append(words, strings.Trim(strings.TrimSpace(w), `"`))
	}
	commandExists(t, words)
}

// --version names the VCS revision the binary was built from (Go records
// it in the build info when building in a checkout with -buildvcs).
func TestVersionNamesTheRevision(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ace-collector")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := string(head[:12]); !strings.Contains(string(out), want) {
		t.Errorf("--version = %q, want the revision %s", out, want)
	}
}
