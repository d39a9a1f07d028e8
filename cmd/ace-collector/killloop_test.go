package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	killLoopLong = flag.Bool("killloop.long", false,
		"kill loop: at least 20 daemon kills and three 60 s receiver outages (several minutes) instead of 6 kills and 2.5 s outages")
	killLoopSeed = flag.Uint64("killloop.seed", 0, "kill loop: random seed (0: from the clock; the test logs the seed it used)")
)

// killLoopPlan is the scenario: how often and how hard the test hits the
// daemon and the receiver, and the load it offers meanwhile.
type killLoopPlan struct {
	daemonKills int           // at least this many SIGKILLs of the daemon; it goes on while outages last
	sinkKills   int           // SIGKILLs of the receiver, each followed by an outage
	outage      time.Duration // how long the receiver stays down, by the test's wall clock (the scenario)
	maxDelay    time.Duration // a kill comes a random time below this after its victim showed progress
	senders     int           // concurrent SMTP clients
	filePause   time.Duration // random pause below this between two dropped files
	smtpPause   time.Duration // random pause below this between two messages of one client
	timeout     time.Duration
}

var (
	killLoopShort = killLoopPlan{daemonKills: 6, sinkKills: 3, outage: 2500 * time.Millisecond,
		maxDelay: 1200 * time.Millisecond, senders: 3, filePause: 60 * time.Millisecond,
		smtpPause: 40 * time.Millisecond, timeout: 4 * time.Minute}
	killLoopLongPlan = killLoopPlan{daemonKills: 20, sinkKills: 3, outage: 60 * time.Second,
		maxDelay: 5 * time.Second, senders: 4, filePause: 80 * time.Millisecond,
		smtpPause: 80 * time.Millisecond, timeout: 25 * time.Minute}
)

// The group's and filedrop's concurrency, written into the config; they
// bound what a kill can catch in flight.
const (
	klThreads = 2 // thread_count: deliveries in flight are at most klThreads × klBatch
	klBatch   = 8 // batch_size
	klWorkers = 4 // filedrop workers: files between commit and removal
)

// TestKillLoop feeds filedrop and SMTP at once while it SIGKILLs the daemon
// at random moments and takes the receiver down three times, then lets
// everything drain and checks that every fed item arrived, that the
// duplicates stay within what the kills could have caught in flight, that
// nothing is parked or left behind, and that the daemon logged no ERROR.
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	plan := killLoopShort
	if *killLoopLong {
		plan = killLoopLongPlan
	}
	seed := *killLoopSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (reproduce the inputs with -killloop.seed=%d)", seed, seed)
	bin := buildBinary(t) // before the deadline starts: a cold build is slow
	ctx, cancel := context.WithTimeout(context.Background(), plan.timeout)
	defer cancel()

	kl := newKillLoop(t, bin, plan, seed)
	kl.run = startProc(t, bin, kl.logPath("run"), "run", "-c", kl.cfg)
	kl.starts = append(kl.starts, kl.since())
	if _, err := kl.run.awaitLog(ctx, smtpStartedRE); err != nil {
		t.Fatal(err)
	}
	kl.loop(ctx)
	kl.drain(ctx)
	f := kl.verify(ctx)
	t.Logf("%s: fed %d (filedrop %d, smtp %d), delivered %d, lost %d, duplicated %d "+
		"(%d redeliveries of one submission, %d files and %d messages stored twice); "+
		"%d daemon kills, %d receiver kills with %s outages; smtp: %d answers without a reply, %d 4xx, %d connection errors",
		f.wall.Round(time.Millisecond), f.fedFiles+f.fedSMTP, f.fedFiles, f.fedSMTP, f.delivered, f.lost,
		f.redelivered+f.resubmittedFiles+f.resubmittedSMTP, f.redelivered, f.resubmittedFiles, f.resubmittedSMTP,
		f.daemonKills, f.sinkKills, plan.outage, f.ambiguous, f.refused, f.connErrors)
}

var (
	smtpStartedRE = regexp.MustCompile(`collector started[^\n]* kind=smtp listen=(127\.0\.0\.1:\d+)`)
	killLoopIDRE  = regexp.MustCompile(`\b((?:file|smtp)-\d{6})\b`)
)

// killLoop is the rig: a receiver (`ace-collector sink`), the daemon, the
// feeders and what they fed.
type killLoop struct {
	t    *testing.T
	plan killLoopPlan
	seed uint64

	bin, dir, cfg               string
	spool, incoming, smtpSpool  string
	sinkDir, sinkAddr, smtpAddr string
	logs                        atomic.Int32 // numbers the log files
	began                       time.Time

	run         *proc           // the test goroutine's
	starts      []time.Duration // of the daemon, since began
	daemonKills int
	sink        *proc // the outage goroutine's while it runs
	sinkKills   int
	outages     sync.WaitGroup

	feedCtx     context.Context // ends when no new items are to be fed
	stopFeeding context.CancelFunc
	feeding     sync.WaitGroup
	feedErr     chan error
	feed        feedLedger
	journal     *journalTail

	refusedSMTP, connErrs, ambiguousN atomic.Int64
}

func newKillLoop(t *testing.T, bin string, plan killLoopPlan, seed uint64) *killLoop {
	t.Helper()
	dir := t.TempDir()
	kl := &killLoop{t: t, plan: plan, seed: seed, bin: bin, dir: dir,
		spool: filepath.Join(dir, "spool"), incoming: filepath.Join(dir, "incoming"),
		smtpSpool: filepath.Join(dir, "smtp-spool"), sinkDir: filepath.Join(dir, "sink"),
		began: time.Now(), feedErr: make(chan error, 1+plan.senders)}
	kl.feed.files = map[string]string{}
	kl.feed.smtp = map[string]sentMessage{}
	kl.feed.ambiguous = map[string]int{}
	kl.journal = &journalTail{path: filepath.Join(kl.sinkDir, "received.jsonl")}
	if err := os.MkdirAll(kl.spool, 0o750); err != nil {
		t.Fatal(err)
	}
	kl.sink = startProc(t, bin, kl.logPath("sink"), "sink", "--http", "--listen", "127.0.0.1:0", "--dir", kl.sinkDir)
	kl.sinkAddr = kl.sink.waitLog(context.Background(), t, sinkAddrRE)
	kl.smtpAddr = freeLoopbackAddr(t)
	kl.cfg = kl.writeConfig()
	return kl
}

// freeLoopbackAddr returns a loopback address nothing listens on now: the
// SMTP listener's, fixed across restarts as an MX's is for its clients.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (kl *killLoop) logPath(what string) string {
	return filepath.Join(kl.dir, fmt.Sprintf("%s-%03d.log", what, kl.logs.Add(1)))
}

func (kl *killLoop) since() time.Duration { return time.Since(kl.began).Round(time.Millisecond) }

func (kl *killLoop) writeConfig() string {
	kl.t.Helper()
	cfg := fmt.Sprintf(`[global]
node = killloop
instance_name = killloop
data_dir = %[1]s/data
[collection]
persistence_dir = %[1]s/persistence
incoming_dir = %[2]s
status_listen = 127.0.0.1:0
shutdown_grace = 5s
[node_sink]
location = http://%[3]s
[collection_group_main]
coverage = 100
full_delivery = yes
target_nodes = sink
thread_count = %[6]d
batch_size = %[7]d
; long enough that a slow receiver on a loaded machine is not retried while
; it still stores the first attempt: duplicates come from kills only
timeout = 60s
backoff_min = 20ms
backoff_max = 500ms
[collector_drop]
type = filedrop
directory = %[4]s
rescan_interval = 200ms
workers = %[8]d
retry_backoff = 50ms
retry_max_backoff = 500ms
[collector_mail]
type = smtp
listen = %[5]s
hostname = collector.killloop.test
spool_dir = %[9]s
max_connections = 32
read_timeout = 60s
write_timeout = 60s
submit_timeout = 60s
shutdown_grace = 5s
`, kl.dir, kl.incoming, kl.sinkAddr, kl.spool, kl.smtpAddr, klThreads, klBatch, klWorkers, kl.smtpSpool)
	p := filepath.Join(kl.dir, "killloop.ini")
	if err := os.WriteFile(p, []byte(cfg), 0o640); err != nil {
		kl.t.Fatal(err)
	}
	return p
}

// loop feeds both sources and kills the daemon at random moments until it
// has been killed plan.daemonKills times and the receiver's outages are
// over, then stops feeding (SMTP clients still retry what was refused).
func (kl *killLoop) loop(ctx context.Context) {
	t := kl.t
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		// On a failure: stop everything before the test returns.
		cancel()
		kl.outages.Wait()
		kl.feeding.Wait()
	}()
	kl.feedCtx, kl.stopFeeding = context.WithCancel(ctx)
	kl.startFeeders(ctx)
	outageErr := make(chan error, 1)
	kl.outages.Add(1)
	go func() {
		defer kl.outages.Done()
		outageErr <- kl.sinkOutages(ctx, rand.New(rand.NewPCG(kl.seed, 2)))
	}()

	rnd := rand.New(rand.NewPCG(kl.seed, 1))
	outagesOver := false
	for kl.daemonKills < kl.plan.daemonKills || !outagesOver {
		// Progress first: the daemon took a message since it started, so
		// kills do not all land in start-up. Then a random moment.
		kl.waitAccepted(ctx, kl.feed.acceptedCount()+1)
		kl.pause(ctx, randDuration(rnd, kl.plan.maxDelay))
		kl.run.kill()
		kl.daemonKills++
		t.Logf("%s: SIGKILL %d of the daemon (%d fed, %d received)", kl.since(), kl.daemonKills,
			kl.feed.fedCount(), kl.journal.count())
		kl.run = startProc(t, kl.bin, kl.logPath("run"), "run", "-c", kl.cfg)
		kl.starts = append(kl.starts, kl.since())
		select {
		case err := <-outageErr:
			if err != nil {
				t.Fatal(err)
			}
			outagesOver = true
		case err := <-kl.feedErr:
			t.Fatalf("feeder: %v", err)
		default:
		}
	}
	if _, err := kl.run.awaitLog(ctx, smtpStartedRE); err != nil {
		t.Fatal(err)
	}
	kl.stopFeeding()
	kl.feeding.Wait()
	close(kl.feedErr)
	for err := range kl.feedErr {
		t.Fatalf("feeder: %v", err)
	}
	t.Logf("%s: feeding stopped: %d files and %d messages fed", kl.since(), len(kl.feed.files), len(kl.feed.smtp))
}

// sinkOutages kills the receiver plan.sinkKills times, each time once it
// has stored something since it started and after a random delay, and
// restarts it on the same address after plan.outage.
func (kl *killLoop) sinkOutages(ctx context.Context, rnd *rand.Rand) error {
	for range kl.plan.sinkKills {
		if err := kl.waitJournal(ctx, kl.journal.count()+1); err != nil {
			return err
		}
		if !kl.pause(ctx, randDuration(rnd, kl.plan.maxDelay)) {
			return ctx.Err()
		}
		kl.sink.kill()
		kl.sinkKills++
		kl.t.Logf("%s: SIGKILL %d of the receiver (%d received); down for %s", kl.since(), kl.sinkKills,
			kl.journal.count(), kl.plan.outage)
		// The outage is the scenario: measured by the wall clock on purpose.
		if !kl.pause(ctx, kl.plan.outage) {
			return ctx.Err()
		}
		p, err := launch(kl.bin, kl.logPath("sink"), "sink", "--http", "--listen", kl.sinkAddr, "--dir", kl.sinkDir)
		if err != nil {
			return err
		}
		kl.sink = p
		kl.t.Cleanup(p.kill)
		if _, err := p.awaitLog(ctx, sinkAddrRE); err != nil {
			return err
		}
		kl.t.Logf("%s: receiver back", kl.since())
	}
	return nil
}

// pause waits d (a random kill moment or the outage: the test's input, not
// synchronisation); false if ctx ended first.
func (kl *killLoop) pause(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

func randDuration(rnd *rand.Rand, below time.Duration) time.Duration {
	if below <= 0 {
		return 0
	}
	return time.Duration(rnd.Int64N(int64(below)))
}

// waitAccepted waits until n SMTP messages in all were answered 250; the
// daemon must stay alive meanwhile.
func (kl *killLoop) waitAccepted(ctx context.Context, n int) {
	kl.t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for kl.feed.acceptedCount() < n {
		select {
		case <-ctx.Done():
			kl.t.Fatalf("the daemon accepted no SMTP message since its start; its log:\n%s", kl.run.tail())
		case <-kl.run.done:
			kl.t.Fatalf("daemon exited (%v); log:\n%s", kl.run.err, kl.run.tail())
		case <-tick.C:
		}
	}
}

// waitJournal waits until the receiver's journal holds n entries.
func (kl *killLoop) waitJournal(ctx context.Context, n int) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for kl.journal.count() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the receiver has %d submissions, waited for %d: %w", kl.journal.count(), n, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// feedLedger is what the feeders fed: an item counts once its source took
// it for good (a file renamed into the spool, a message answered 250).
type feedLedger struct {
	mu        sync.Mutex
	files     map[string]string      // id → sha256 of the content
	smtp      map[string]sentMessage // id → what was sent
	ambiguous map[string]int         // id → attempts whose outcome the client could not know
	accepted  int
}

// sentMessage identifies a message by the digest of its bytes as sent.
type sentMessage struct {
	size   int
	sha256 [32]byte
}

func (f *feedLedger) fedFile(id, sum string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[id] = sum
}

func (f *feedLedger) fedMessage(id string, raw []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.smtp[id] = sentMessage{size: len(raw), sha256: sha256.Sum256(raw)}
	f.accepted++
}

func (f *feedLedger) unknownOutcome(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ambiguous[id]++
}

func (f *feedLedger) acceptedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted
}

func (f *feedLedger) fedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.files) + len(f.smtp)
}

func (kl *killLoop) startFeeders(ctx context.Context) {
	kl.feeding.Add(1)
	go func() {
		defer kl.feeding.Done()
		if err := kl.feedFiles(kl.feedCtx, rand.New(rand.NewPCG(kl.seed, 3))); err != nil {
			kl.feedErr <- err
		}
	}()
	var next atomic.Int64
	for i := range kl.plan.senders {
		kl.feeding.Add(1)
		go func() {
			defer kl.feeding.Done()
			s := &smtpFeeder{kl: kl, rnd: rand.New(rand.NewPCG(kl.seed, uint64(10+i))), next: &next}
			defer s.hangUp()
			if err := s.run(ctx); err != nil {
				kl.feedErr <- err
			}
		}()
	}
}

// feedFiles drops files (written as NAME.new, renamed when complete, as
// filedrop expects) until gen ends.
func (kl *killLoop) feedFiles(gen context.Context, rnd *rand.Rand) error {
	for i := 0; gen.Err() == nil; i++ {
		id := fmt.Sprintf("file-%06d", i)
		buf := make([]byte, 64+rnd.IntN(16<<10))
		for j := range buf {
			buf[j] = byte(rnd.Uint32())
		}
		copy(buf, "killloop "+id+"\n")
		name := filepath.Join(kl.spool, id+".bin")
		if err := os.WriteFile(name+".new", buf, 0o640); err != nil {
			return fmt.Errorf("dropping %s: %w", id, err)
		}
		if err := os.Rename(name+".new", name); err != nil {
			return fmt.Errorf("dropping %s: %w", id, err)
		}
		sum := sha256.Sum256(buf)
		kl.feed.fedFile(id, hex.EncodeToString(sum[:]))
		kl.pause(gen, randDuration(rnd, kl.plan.filePause))
	}
	return nil
}

// smtpFeeder is one SMTP client (net/smtp) sending numbered messages over
// a reused connection. A message refused with 4xx, or whose connection
// failed, is sent again later; 5xx fails the test.
type smtpFeeder struct {
	kl      *killLoop
	rnd     *rand.Rand
	next    *atomic.Int64
	pending []smtpMessage
	conn    net.Conn
	client  *smtp.Client
	unwatch func() bool
}

type smtpMessage struct {
	id  string
	raw []byte
}

// run sends new messages until feeding stops, then the ones still
// pending until each is accepted or ctx ends.
func (s *smtpFeeder) run(ctx context.Context) error {
	gen := s.kl.feedCtx
	for {
		var m smtpMessage
		switch {
		case len(s.pending) > 0 && (gen.Err() != nil || s.rnd.IntN(4) == 0):
			m, s.pending = s.pending[0], s.pending[1:]
		case gen.Err() == nil:
			m = s.message(int(s.next.Add(1) - 1))
		default:
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%d messages never accepted: %w", len(s.pending)+1, ctx.Err())
		}
		err := s.send(ctx, m)
		var perr *textproto.Error
		switch {
		case err == nil:
			s.kl.feed.fedMessage(m.id, m.raw)
			s.kl.pause(gen, randDuration(s.rnd, s.kl.plan.smtpPause))
			continue
		case errors.As(err, &perr) && perr.Code >= 500:
			return fmt.Errorf("message %s refused for good: %w", m.id, err)
		case errors.As(err, &perr):
			s.kl.refusedSMTP.Add(1)
		default:
			s.kl.connErrs.Add(1)
		}
		s.hangUp()
		s.pending = append(s.pending, m)
		// Retry later: the daemon is being restarted or the store refused.
		s.kl.pause(ctx, 10*time.Millisecond+randDuration(s.rnd, 90*time.Millisecond))
	}
}

func (s *smtpFeeder) message(n int) smtpMessage {
	id := fmt.Sprintf("smtp-%06d", n)
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Kill Loop <feeder@killloop.test>\r\nTo: <trap@killloop.test>\r\n"+
		"Subject: killloop %s\r\nMessage-ID: <%s.%d@killloop.test>\r\nDate: %s\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"+
		"Message %s of the kill loop (seed %d).\r\n", id, id, s.kl.seed, time.Now().Format(time.RFC1123Z), id, s.kl.seed)
	line := make([]byte, 32)
	for range s.rnd.IntN(60) {
		for j := range line {
			line[j] = byte(s.rnd.Uint32())
		}
		b.WriteString(hex.EncodeToString(line) + "\r\n")
	}
	return smtpMessage{id: id, raw: b.Bytes()}
}

// send delivers m in one SMTP transaction, dialling first if needed. An
// error after the whole message went out leaves its fate unknown (the
// daemon may have committed it and died before answering): that is
// recorded, since the retry may then store it twice.
func (s *smtpFeeder) send(ctx context.Context, m smtpMessage) error {
	if s.client == nil {
		d := net.Dialer{Timeout: 5 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", s.kl.smtpAddr)
		if err != nil {
			return err
		}
		s.conn = conn
		s.unwatch = context.AfterFunc(ctx, func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
		c, err := smtp.NewClient(conn, "collector.killloop.test")
		if err != nil {
			return err
		}
		s.client = c
		if err := c.Hello("feeder.killloop.test"); err != nil {
			return err
		}
	}
	_ = s.conn.SetDeadline(time.Now().Add(60 * time.Second))
	if err := s.client.Mail("feeder@killloop.test"); err != nil {
		return err
	}
	if err := s.client.Rcpt("trap@killloop.test"); err != nil {
		return err
	}
	w, err := s.client.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(m.raw); err != nil {
		return err
	}
	err = w.Close()
	var perr *textproto.Error
	if err != nil && !errors.As(err, &perr) {
		s.kl.feed.unknownOutcome(m.id)
		s.kl.ambiguousN.Add(1)
	}
	return err
}

func (s *smtpFeeder) hangUp() {
	if s.conn == nil {
		return
	}
	s.unwatch()
	s.conn.Close()
	s.conn, s.client = nil, nil
}

// drain waits until every fed item is at the receiver and nothing is left
// in the spool or the incoming dir, then stops the daemon cleanly. What
// does not happen in time is an error; verify still counts the figures.
func (kl *killLoop) drain(ctx context.Context) {
	t := kl.t
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	if missing := kl.waitDelivered(ctx, tick.C); len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("%d fed items never reached the receiver: %v\ndaemon log:\n%s", len(missing), missing, kl.run.tail())
	}
	t.Logf("%s: drained (%d fed items not received)", kl.since(), len(kl.missing()))
	// Cleanup follows each delivery within a second or so; a minute is
	// generous, and what is still there then stays.
	cleanCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, d := range []string{kl.spool, kl.incoming} {
		for left := dirLeft(t, d); len(left) > 0; left = dirLeft(t, d) {
			select {
			case <-cleanCtx.Done():
				t.Errorf("left in %s after delivery:%s", d, kl.describe(d, left))
			case <-tick.C:
				continue
			}
			break
		}
	}
	kl.run.stop(t, 30*time.Second)
	if kl.run.err != nil {
		t.Errorf("daemon exit on SIGINT: %v; log:\n%s", kl.run.err, kl.run.tail())
	}
	if left := dirLeft(t, kl.smtpSpool); len(left) > 0 {
		t.Errorf("left in the SMTP spool_dir after a clean stop: %v", left)
	}
	kl.sink.stop(t, 30*time.Second)
}

// waitDelivered waits until the receiver holds every fed item, and returns
// those it does not hold when ctx ends.
func (kl *killLoop) waitDelivered(ctx context.Context, tick <-chan time.Time) []string {
	seen := -1
	for {
		if n := kl.journal.count(); n != seen {
			seen = n
			if len(kl.missing()) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return kl.missing()
		case <-kl.run.done:
			kl.t.Fatalf("daemon exited (%v); log:\n%s", kl.run.err, kl.run.tail())
		case <-tick:
		}
	}
}

// describe says, for entries of dir, when each was last modified (since
// the test began) and whether the receiver got a submission by that uuid,
// next to the daemon's start times.
func (kl *killLoop) describe(dir string, names []string) string {
	delivered := map[string]bool{}
	for _, e := range kl.journal.all() {
		delivered[e.SubmissionUUID] = true
	}
	var b strings.Builder
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			fmt.Fprintf(&b, "\n  %s: %v", n, err)
			continue
		}
		at := fi.ModTime().Sub(kl.began)
		fmt.Fprintf(&b, "\n  %s: modified at %s, delivered: %v", n, at.Round(time.Millisecond), delivered[n])
		// The daemon's start-up sweep leaves directories younger than 2 s.
		if i, _ := slices.BinarySearch(kl.starts, at); !delivered[n] && i < len(kl.starts) && kl.starts[i]-at < 2*time.Second {
			fmt.Fprintf(&b, " (staged %s before the daemon was killed and restarted: an orphan the start-up sweep skipped?)",
				(kl.starts[i] - at).Round(time.Millisecond))
		}
	}
	fmt.Fprintf(&b, "\n  daemon (re)starts at: %v", kl.starts)
	return b.String()
}

// dirLeft lists what is in dir other than dot-entries (filedrop's
// in-flight directory).
func dirLeft(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			left = append(left, e.Name())
		}
	}
	return left
}

// missing lists fed ids the journal does not hold yet.
func (kl *killLoop) missing() []string {
	got := kl.journal.ids()
	kl.feed.mu.Lock()
	defer kl.feed.mu.Unlock()
	var out []string
	for id := range kl.feed.files {
		if !got[id] {
			out = append(out, id)
		}
	}
	for id := range kl.feed.smtp {
		if !got[id] {
			out = append(out, id)
		}
	}
	return out
}

// killLoopFigures is what the run measured.
type killLoopFigures struct {
	fedFiles, fedSMTP, delivered, lost int
	redelivered                        int // a submission stored again (same submission_uuid)
	resubmittedFiles, resubmittedSMTP  int // an input stored as a second submission
	ambiguous, refused, connErrors     int
	daemonKills, sinkKills             int
	wall                               time.Duration
}

// verify checks the receiver's contents against what was fed, the queue,
// and the daemon's logs.
func (kl *killLoop) verify(ctx context.Context) killLoopFigures {
	t := kl.t
	t.Helper()
	f := killLoopFigures{fedFiles: len(kl.feed.files), fedSMTP: len(kl.feed.smtp), daemonKills: kl.daemonKills,
		sinkKills: kl.sinkKills, ambiguous: int(kl.ambiguousN.Load()), refused: int(kl.refusedSMTP.Load()),
		connErrors: int(kl.connErrs.Load())}
	entries := kl.journal.all()
	subs := map[string]map[string]int{} // id → submission uuid → copies
	for _, e := range entries {
		m := killLoopIDRE.FindStringSubmatch(e.Description)
		if m == nil {
			t.Errorf("the receiver holds a submission no feeder sent: %q", e.Description)
			continue
		}
		id := m[1]
		if subs[id] == nil {
			subs[id] = map[string]int{}
		}
		subs[id][e.SubmissionUUID]++
		kl.checkContent(id, e)
	}
	for id, byUUID := range subs {
		_, isFile := kl.feed.files[id]
		_, isMsg := kl.feed.smtp[id]
		if !isFile && !isMsg {
			t.Errorf("the receiver holds %s, which was never fed", id)
			continue
		}
		f.delivered++
		for _, n := range byUUID {
			f.redelivered += n - 1
		}
		extra := len(byUUID) - 1
		if isFile {
			f.resubmittedFiles += extra
			continue
		}
		f.resubmittedSMTP += extra
		// A message is stored once per attempt the daemon may have
		// committed without the client hearing 250.
		if extra > kl.feed.ambiguous[id] {
			t.Errorf("message %s stored as %d submissions but only %d attempts went unanswered",
				id, len(byUUID), kl.feed.ambiguous[id])
		}
	}
	f.lost = f.fedFiles + f.fedSMTP - f.delivered
	if f.lost != 0 {
		t.Errorf("%d fed items lost", f.lost)
	}
	// A kill (of either process) can catch at most the group's claimed
	// batches in flight; filedrop can have at most its workers' files
	// committed and not yet removed.
	if limit := (f.daemonKills + f.sinkKills) * klThreads * klBatch; f.redelivered > limit {
		t.Errorf("%d redeliveries, more than %d kills × %d in flight", f.redelivered, f.daemonKills+f.sinkKills, klThreads*klBatch)
	}
	if limit := f.daemonKills * klWorkers; f.resubmittedFiles > limit {
		t.Errorf("%d files stored twice, more than %d daemon kills × %d workers", f.resubmittedFiles, f.daemonKills, klWorkers)
	}
	t.Logf("duplicate bounds: redeliveries %d ≤ %d, files stored twice %d ≤ %d, messages stored twice %d ≤ %d unanswered attempts",
		f.redelivered, (f.daemonKills+f.sinkKills)*klThreads*klBatch, f.resubmittedFiles, f.daemonKills*klWorkers,
		f.resubmittedSMTP, f.ambiguous)
	kl.checkQueue(ctx)
	kl.checkLogs()
	f.wall = time.Since(kl.began)
	return f
}

// checkContent compares a stored copy with what was fed: a file's digest,
// or a message's bytes after the trace header the daemon prepends.
func (kl *killLoop) checkContent(id string, e journalEntry) {
	t := kl.t
	t.Helper()
	if len(e.Files) != 1 {
		t.Errorf("%s: stored with %d files, want 1", id, len(e.Files))
		return
	}
	if sum, ok := kl.feed.files[id]; ok {
		if e.Files[0].SHA256 != sum {
			t.Errorf("%s: stored content sha256 %s, fed %s", id, e.Files[0].SHA256, sum)
		}
		return
	}
	sent, ok := kl.feed.smtp[id]
	if !ok {
		return // reported by the caller
	}
	b, err := os.ReadFile(filepath.Join(kl.sinkDir, e.UUID, "files", "email.rfc822"))
	if err != nil {
		t.Errorf("%s: %v", id, err)
		return
	}
	if len(b) < sent.size || sha256.Sum256(b[len(b)-sent.size:]) != sent.sha256 {
		t.Errorf("%s: stored message (%d bytes) does not end with the %d bytes sent", id, len(b), sent.size)
	}
}

// checkQueue asks the stopped daemon's store for parked (ERROR) deliveries.
func (kl *killLoop) checkQueue(ctx context.Context) {
	t := kl.t
	t.Helper()
	out, err := exec.CommandContext(ctx, kl.bin, "queue", "list", "-c", kl.cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("queue list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if !strings.HasPrefix(lines[0], "UUID") {
		t.Fatalf("queue list printed no header:\n%s", out)
	}
	if len(lines) > 1 {
		t.Errorf("parked deliveries after the drain:\n%s", out)
	}
}

// killLoopExpectedErrors are ERROR lines with a cause outside the daemon:
// while it was down between a kill and its restart, another program on the
// machine may have taken the SMTP port, which it cannot know.
var killLoopExpectedErrors = []*regexp.Regexp{
	regexp.MustCompile(`collector stopped; restarting.*smtp listen on .*address already in use`),
}

var errorLevelRE = regexp.MustCompile(`level=ERROR|"level":"ERROR"`)

// checkLogs fails on ERROR lines in the daemon's and the receiver's logs
// other than killLoopExpectedErrors.
func (kl *killLoop) checkLogs() {
	t := kl.t
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(kl.dir, "*.log"))
	expected := 0
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
	lines:
		for line := range strings.Lines(string(b)) {
			if !errorLevelRE.MatchString(line) {
				continue
			}
			for _, re := range killLoopExpectedErrors {
				if re.MatchString(line) {
					expected++
					continue lines
				}
			}
			t.Errorf("ERROR in %s: %s", filepath.Base(p), strings.TrimSpace(line))
		}
	}
	if expected > 0 {
		t.Logf("%d expected ERROR lines (SMTP port taken while the daemon was down)", expected)
	}
}

// journalTail reads the receiver's journal incrementally.
type journalTail struct {
	path    string
	mu      sync.Mutex
	off     int64
	entries []journalEntry
	seen    map[string]bool // item ids in descriptions
}

func (j *journalTail) refresh() {
	f, err := os.Open(j.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(j.off, io.SeekStart); err != nil {
		return
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return
	}
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return
	}
	j.off += int64(end + 1)
	if j.seen == nil {
		j.seen = map[string]bool{}
	}
	for line := range bytes.Lines(b[:end+1]) {
		var e journalEntry
		if json.Unmarshal(line, &e) != nil {
			// A line torn by a SIGKILL of the receiver is continued by
			// the next process's first line: keep that one.
			i := bytes.LastIndex(line, []byte(`{"uuid":`))
			if i <= 0 || json.Unmarshal(line[i:], &e) != nil {
				continue
			}
		}
		j.entries = append(j.entries, e)
		if m := killLoopIDRE.FindStringSubmatch(e.Description); m != nil {
			j.seen[m[1]] = true
		}
	}
}

// ids returns the item ids received so far.
func (j *journalTail) ids() map[string]bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.refresh()
	return maps.Clone(j.seen)
}

func (j *journalTail) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.refresh()
	return len(j.entries)
}

func (j *journalTail) all() []journalEntry {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.refresh()
	return slices.Clone(j.entries)
}
