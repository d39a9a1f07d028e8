package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ace-collector/ace-collector/api"
)

// benchTracker remembers when each submission entered the pipeline and
// collects the collect→delivered latency of every (submission, group).
type benchTracker struct {
	mu        sync.Mutex
	started   map[string]time.Time
	latencies []time.Duration
	lastSeen  time.Time
	want      int64 // deliveries expected in total (submissions × groups)
	delivered atomic.Int64
	done      chan struct{}
	doneOnce  sync.Once
}

func newBenchTracker(want int64) *benchTracker {
	return &benchTracker{started: make(map[string]time.Time, want), want: want,
		latencies: make([]time.Duration, 0, want), done: make(chan struct{})}
}

// start records the moment submission uuid is handed to Sink.Submit.
func (t *benchTracker) start(uuid string, at time.Time) {
	t.mu.Lock()
	t.started[uuid] = at
	t.mu.Unlock()
}

// forget drops a submission whose Submit failed.
func (t *benchTracker) forget(uuid string) {
	t.mu.Lock()
	delete(t.started, uuid)
	t.mu.Unlock()
}

// deliveredAt records one first delivery of uuid to one group's node.
// Unknown uuids (an earlier run's backlog in a shared store) are ignored.
func (t *benchTracker) deliveredAt(uuid string, at time.Time) {
	t.mu.Lock()
	s, ok := t.started[uuid]
	if ok {
		t.latencies = append(t.latencies, at.Sub(s))
		if at.After(t.lastSeen) {
			t.lastSeen = at
		}
	}
	t.mu.Unlock()
	if ok && t.delivered.Add(1) == t.want {
		t.doneOnce.Do(func() { close(t.done) })
	}
}

// percentiles returns p50, p95, p99 and the maximum of the latencies.
func (t *benchTracker) percentiles() (p50, p95, p99, maxL time.Duration) {
	t.mu.Lock()
	l := slices.Clone(t.latencies)
	t.mu.Unlock()
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(l))+0.5) - 1
		return l[max(0, min(i, len(l)-1))]
	}
	return at(0.50), at(0.95), at(0.99), l[len(l)-1]
}

func (t *benchTracker) last() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastSeen
}

// benchNode is a real api.Server on a loopback port, plain HTTP. It counts
// first deliveries per submission uuid and reports them to the tracker.
type benchNode struct {
	srv   *api.Server
	hs    *http.Server
	addr  string
	errc  chan error
	mu    sync.Mutex
	seen  map[string]bool
	dups  atomic.Int64
	track *benchTracker
}

// startBenchNode starts a receiver: with light, a handler that parses the
// ACE request (form, analysis JSON, file parts read and discarded) and
// answers as ACE does, storing nothing — so the collector, not the
// receiver's disk, is what is measured; otherwise a real api.Server.
func startBenchNode(dir string, track *benchTracker, log *slog.Logger, fsync, light bool) (*benchNode, error) {
	n := &benchNode{seen: map[string]bool{}, track: track, errc: make(chan error, 1)}
	var h http.Handler = http.HandlerFunc(n.light)
	if !light {
		srv, err := api.NewServer(api.ServerOptions{Dir: dir, Logger: log, OnSubmit: n.onSubmit, NoSync: !fsync})
		if err != nil {
			return nil, fmt.Errorf("bench node: %w", err)
		}
		n.srv, h = srv, srv.Handler()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if n.srv != nil {
			n.srv.Close()
		}
		return nil, fmt.Errorf("bench node: listening: %w", err)
	}
	n.addr = ln.Addr().String()
	n.hs = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() { n.errc <- n.hs.Serve(ln) }()
	return n, nil
}

func (n *benchNode) onSubmit(r *api.Received) {
	now := time.Now()
	n.mu.Lock()
	dup := n.seen[r.SubmissionUUID]
	n.seen[r.SubmissionUUID] = true
	n.mu.Unlock()
	if dup {
		n.dups.Add(1)
		return
	}
	if n.track != nil {
		n.track.deliveredAt(r.SubmissionUUID, now)
	}
}

func (n *benchNode) location() string { return "http://" + n.addr }

// stop shuts the HTTP server down (in-flight requests finish) and closes
// the api.Server's journal.
func (n *benchNode) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := n.hs.Shutdown(ctx)
	if serr := <-n.errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if n.srv != nil {
		err = errors.Join(err, n.srv.Close())
	}
	return err
}

// light is the storing-nothing receiver: ACE's request format, ACE's answer.
func (n *benchNode) light(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/analysis/submit" {
		http.NotFound(w, r)
		return
	}
	var analysis []byte
	if mr, err := r.MultipartReader(); err == nil {
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, "bad multipart body: "+err.Error(), http.StatusBadRequest)
				return
			}
			if part.FormName() == "analysis" {
				analysis, err = io.ReadAll(part)
			} else {
				_, err = io.Copy(io.Discard, part)
			}
			if err != nil {
				http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
	} else if err := r.ParseForm(); err == nil {
		analysis = []byte(r.PostForm.Get("analysis"))
	}
	var a struct {
		SubmissionUUID string `json:"submission_uuid"`
		Description    string `json:"description"`
	}
	if len(analysis) == 0 {
		http.Error(w, "missing analysis field (see documentation)", http.StatusBadRequest)
		return
	}
	if err := json.Unmarshal(analysis, &a); err != nil || a.Description == "" {
		http.Error(w, "missing description field in submission", http.StatusBadRequest)
		return
	}
	n.onSubmit(&api.Received{SubmissionUUID: a.SubmissionUUID})
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"result": {"uuid": %q}}`, uuid.NewString())
}
