package smtp

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// linkSink wraps the runtime's Sink and records, per submission, whether
// the file staged in incoming_dir is the spool file itself (same inode:
// linked, not copied).
type linkSink struct {
	collector.Sink
	mu     sync.Mutex
	linked []bool
}

func (l *linkSink) Submit(ctx context.Context, sub *collector.Submission) error {
	before, err := os.Stat(sub.Files[0].Path)
	if err != nil {
		return err
	}
	if err := l.Sink.Submit(ctx, sub); err != nil {
		return err
	}
	after, err := os.Stat(sub.Files[0].Path) // now the staged path
	l.mu.Lock()
	l.linked = append(l.linked, err == nil && os.SameFile(before, after))
	l.mu.Unlock()
	return nil
}

// serveRuntime runs a collector whose Sink is the real runtime's (over a
// collectortest.Queue), with spool_dir and incoming_dir on one file system.
func serveRuntime(t testing.TB, keys string) (*Collector, *collectortest.Queue, *linkSink, string) {
	t.Helper()
	base := t.TempDir()
	incoming := filepath.Join(base, "incoming")
	q := &collectortest.Queue{}
	rt, err := collector.NewRuntime(collector.RuntimeOptions{
		Queue: q, IncomingDir: incoming, Groups: []collector.GroupTarget{{Name: "main", Coverage: 100}},
		Global: collector.Global{Hostname: "rt-host"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, probs := tryBuild(t, "listen = 127.0.0.1:0\nspool_dir = "+filepath.Join(base, "spool")+"\n"+keys)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	sink := &linkSink{Sink: rt.Sink("smtp_in", Kind, nil)}
	env := collectortest.Env(t, "smtp_in", sink, collectortest.NewState())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, env) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-c.Ready():
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	}
	return c, q, sink, incoming
}

// bigMessage streams a message of about size bytes (a text part with a
// URL and a base64 attachment of pseudo-random bytes) without holding
// it; sum gives the attachment's sha256 once the reader is drained.
func bigMessage(size int, seed uint64) (io.Reader, func() string) {
	pr, pw := io.Pipe()
	h := sha256.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := bufio.NewWriter(pw)
		fmt.Fprintf(w, "From: big%d@sender.example\r\nTo: alice@corp.example\r\nSubject: big %d\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=BIG\r\n\r\n--BIG\r\nContent-Type: text/plain\r\n\r\nhttp://big-text.example/%d\r\n"+
			"--BIG\r\nContent-Type: application/octet-stream; name=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n", seed, seed, seed)
		rng := rand.New(rand.NewPCG(seed, seed))
		var chunk [57]byte
		var line [78]byte
		for n := 0; n < size*3/4; n += len(chunk) {
			for i := range chunk {
				chunk[i] = byte(rng.Uint32())
			}
			h.Write(chunk[:])
			base64.StdEncoding.Encode(line[:76], chunk[:])
			line[76], line[77] = '\r', '\n'
			w.Write(line[:])
		}
		fmt.Fprint(w, "--BIG--\r\n")
		pw.CloseWithError(w.Flush())
	}()
	return pr, func() string { <-done; return hex.EncodeToString(h.Sum(nil)) }
}

func hasObservable(s collector.Submission, typ, val string) bool {
	for _, o := range s.Observables {
		if o.Type == typ && o.Value == val {
			return true
		}
	}
	return false
}

// DATA streams to the spool file and extraction reads the file: a 16 MB
// message costs a bounded amount of memory (it used to be held in memory
// five to seven times over), and the spool file itself, hard-linked by
// the runtime, is the submission's email.rfc822.
func TestMessageStreamsToTheAttachedFile(t *testing.T) {
	c, q, sink, incoming := serveRuntime(t, "max_message_size = 32M\n")
	cl := dial(t, c, nil)
	const size = 16 << 20
	src, sum := bigMessage(size, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := cl.SendMail("big@sender.example", []string{"alice@corp.example"}, src); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB (server and client) for a %d MiB message", alloc>>10, size>>20)
	if alloc > 8<<20 {
		t.Errorf("allocated %d bytes for a %d byte message: the message is held in memory", alloc, size)
	}
	subs := q.Submissions(t)
	if len(subs) != 1 || !hasObservable(subs[0], "sha256", sum()) || !hasObservable(subs[0], "url", "http://big-text.example/1") {
		t.Fatalf("submissions %d, or the attachment hash or URL missing", len(subs))
	}
	if len(sink.linked) != 1 || !sink.linked[0] {
		t.Errorf("the spool file was not linked into incoming_dir: %v", sink.linked)
	}
	st, err := os.Stat(filepath.Join(incoming, subs[0].UUID, FileName))
	if err != nil || st.Size() < size {
		t.Errorf("stored message: %v, %v", st, err)
	}
	spoolEmpty(t, c)
}

// TestPeakRSS measures the process's peak RSS while 4 clients send a
// 30 MB message each at once, through the real runtime Sink (run by hand:
// ACE_SMTP_RSS=1 go test -run TestPeakRSS -v ./collectors/smtp; set
// ACE_SMTP_RSS_MB for another size). Linux only (VmHWM).
func TestPeakRSS(t *testing.T) {
	if os.Getenv("ACE_SMTP_RSS") == "" {
		t.Skip("set ACE_SMTP_RSS=1 to measure")
	}
	mb := 30
	if v, err := strconv.Atoi(os.Getenv("ACE_SMTP_RSS_MB")); err == nil {
		mb = v
	}
	c, q, _, _ := serveRuntime(t, "max_message_size = 64M\n")
	runtime.GC()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil { // reset VmHWM
		t.Fatalf("resetting the peak RSS: %v", err)
	}
	base := vmHWM(t)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := gosmtp.Dial(c.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			src, _ := bigMessage(mb<<20, uint64(i+1))
			errs <- cl.SendMail("big@sender.example", []string{"alice@corp.example"}, src)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	peak := vmHWM(t)
	t.Logf("4 × %d MB concurrently in %v: peak RSS %d MiB (%d MiB when the clients started; GOMAXPROCS %d)",
		mb, time.Since(start).Round(time.Millisecond), peak>>10, base>>10, runtime.GOMAXPROCS(0))
	if n := len(q.Submissions(t)); n != 4 {
		t.Errorf("%d submissions", n)
	}
	if peak > 150<<10 {
		t.Errorf("peak RSS %d MiB for 4 × %d MB", peak>>10, mb)
	}
}

// vmHWM is the process's peak resident set size in KiB.
func vmHWM(t testing.TB) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Skip("no VmHWM")
	return 0
}
