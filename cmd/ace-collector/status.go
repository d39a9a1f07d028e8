package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/persistence"
)

// statusReport is what /status.json serves and `status` prints.
type statusReport struct {
	Instance string                   `json:"instance"`
	Version  string                   `json:"version"`
	Time     time.Time                `json:"time"`
	Backlog  int64                    `json:"backlog"`
	Queue    []persistence.GroupCount `json:"queue"`
	Counters []collector.Counter      `json:"counters"`
	Nodes    []groups.NodeStatus      `json:"nodes"`
	Errors   []persistence.ErrorItem  `json:"recent_errors"`
}

func buildReport(ctx context.Context, store *persistence.Store, stats *collector.Stats, mgr *groups.Manager, instance string) (*statusReport, error) {
	r := &statusReport{Instance: instance, Version: version, Time: time.Now()}
	var err error
	if r.Backlog, err = store.Backlog(ctx); err != nil {
		return nil, err
	}
	if r.Queue, err = store.Counts(ctx); err != nil {
		return nil, err
	}
	if r.Errors, err = store.Errors(ctx, 20); err != nil {
		return nil, err
	}
	if stats != nil {
		r.Counters = stats.Snapshot()
	}
	if mgr != nil {
		r.Nodes = mgr.Nodes()
	}
	return r, nil
}

func (r *statusReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "ace-collector %s  instance %s  at %s\n\n", r.Version, r.Instance, r.Time.Format(time.RFC3339))
	fmt.Fprintf(w, "submissions stored: %d\n\n", r.Backlog)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tCOUNT")
	for _, q := range r.Queue {
		state := q.Status
		if q.Skipped {
			state += " (coverage skip)"
		}
		if q.Parked {
			state += " (parked)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", q.Group, state, q.Count)
	}
	tw.Flush()
	if len(r.Nodes) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tIN FLIGHT\tFAILURES\tBACKING OFF UNTIL")
		for _, n := range r.Nodes {
			until := "-"
			if time.Now().Before(n.DownUntil) {
				until = n.DownUntil.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", n.Location, n.InFlight, n.Failures, until)
		}
		tw.Flush()
	}
	if len(r.Counters) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCOPE\tEVENT\tCOUNT")
		for _, c := range r.Counters {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Scope, c.Event, c.Value)
		}
		tw.Flush()
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nrecent errors (ace-collector queue retry -c FILE puts them back):")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s  group %s  attempts %d  %s\n", e.UUID, e.Group, e.Attempts, oneLine(e.LastError, 200))
		}
	}
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// metrics exports counters, queue depth and node health to Prometheus.
type metrics struct {
	store *persistence.Store
	stats *collector.Stats
	mgr   *groups.Manager
}

var (
	descEvents  = prometheus.NewDesc("ace_collector_events_total", "Events counted by collectors, groups and the runtime (submitted, delivered, dropped_*, ...).", []string{"scope", "event"}, nil)
	descQueue   = prometheus.NewDesc("ace_collector_queue_items", "(submission, group) pairs by state.", []string{"group", "status", "skipped", "parked"}, nil)
	descBacklog = prometheus.NewDesc("ace_collector_backlog_submissions", "Submissions stored and not yet cleaned up.", nil, nil)
	descNodeUp  = prometheus.NewDesc("ace_collector_node_up", "1 if the node is not in a failure backoff.", []string{"location"}, nil)
	descFlight  = prometheus.NewDesc("ace_collector_node_in_flight", "Deliveries in flight per node.", []string{"location"}, nil)
)

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descQueue, descBacklog, descNodeUp, descFlight} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.stats.Snapshot() {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(c.Value), c.Scope, c.Event)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if counts, err := m.store.Counts(ctx); err == nil {
		for _, q := range counts {
			ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(q.Count), q.Group, q.Status, fmt.Sprint(q.Skipped), fmt.Sprint(q.Parked))
		}
	}
	if n, err := m.store.Backlog(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(n))
	}
	for _, n := range m.mgr.Nodes() {
		up := 1.0
		if time.Now().Before(n.DownUntil) {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(descNodeUp, prometheus.GaugeValue, up, n.Location)
		ch <- prometheus.MustNewConstMetric(descFlight, prometheus.GaugeValue, float64(n.InFlight), n.Location)
	}
}

func newStatusHandler(store *persistence.Store, stats *collector.Stats, mgr *groups.Manager, c *appConfig) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&metrics{store: store, stats: stats, mgr: mgr})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	report := func(w http.ResponseWriter, r *http.Request) *statusReport {
		rep, err := buildReport(r.Context(), store, stats, mgr, c.instance)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return nil
		}
		return rep
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		if rep := report(w, r); rep != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			rep.writeText(w)
		}
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		if rep := report(w, r); rep != nil {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(rep)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	return mux
}

// cmdStatus asks a running daemon for its status page; with no daemon
// answering it reads the store directly (no live counters then).
func cmdStatus(ctx context.Context, args []string) error {
	var cfgs configFlags
	fs := newFlags("status", &cfgs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadValid(cfgs)
	if err != nil {
		return err
	}
	if c.statusListen != "" {
		path := "/status"
		if *asJSON {
			path = "/status.json"
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+c.statusListen+path, nil)
		cl := &http.Client{Timeout: 5 * time.Second}
		if resp, err := cl.Do(req); err == nil {
			defer resp.Body.Close()
			_, err = io.Copy(os.Stdout, resp.Body)
			return err
		}
	}
	store, err := openStore(ctx, c, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	rep, err := buildReport(ctx, store, nil, nil, c.instance)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(rep)
	}
	fmt.Println("(no daemon answering on", c.statusListen+"; showing the store only)")
	rep.writeText(os.Stdout)
	return nil
}
