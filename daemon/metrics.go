package daemon

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics exports the daemon to Prometheus: counters per collector, group
// and node with name labels (counts and bytes apart), queue depth per group
// and state, the delivery latency histogram, build info, Go and process
// metrics.
type metrics struct {
	d       *Daemon
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
}

var (
	descCollector = prometheus.NewDesc("ace_collector_collector_events_total",
		"Events counted by a collector (received, stored, dropped_*, ...).", []string{"collector", "event"}, nil)
	descCollectorBytes = prometheus.NewDesc("ace_collector_collector_bytes_total",
		"Bytes counted by a collector, by what was counted.", []string{"collector", "event"}, nil)
	descGroup = prometheus.NewDesc("ace_collector_group_events_total",
		"Events counted by a collection group (delivered, failed, retried, skipped_coverage, ...).", []string{"group", "event"}, nil)
	descRouting = prometheus.NewDesc("ace_collector_routing_rule_matches_total",
		"Submissions a routing rule matched.", []string{"rule"}, nil)
	descRoutingEvents = prometheus.NewDesc("ace_collector_routing_events_total",
		"Submissions no routing rule sent to an enabled group: default (to the default groups), unmatched (to every group).", []string{"event"}, nil)
	descRuntime = prometheus.NewDesc("ace_collector_runtime_events_total",
		"Events counted by the runtime (cleaned, orphan_dirs_removed, ...).", []string{"event"}, nil)
	descQueue = prometheus.NewDesc("ace_collector_queue_items",
		"(submission, group) pairs by state.", []string{"group", "state", "coverage_skipped", "parked"}, nil)
	descBacklog = prometheus.NewDesc("ace_collector_backlog_submissions",
		"Submissions stored and not yet cleaned up.", nil, nil)
	descNodeUp = prometheus.NewDesc("ace_collector_node_up",
		"1 if the node is not in a failure backoff.", []string{"node"}, nil)
	descFlight = prometheus.NewDesc("ace_collector_node_in_flight",
		"Deliveries in flight per node.", []string{"node"}, nil)
	descCollectorUp = prometheus.NewDesc("ace_collector_collector_up",
		"1 while the collector runs, 0 while it waits to be restarted after a failure.", []string{"collector", "kind"}, nil)
)

func newMetrics(d *Daemon) *metrics {
	m := &metrics{d: d, reg: prometheus.NewRegistry()}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ace_collector_delivery_latency_seconds",
		Help: "Time from Submit (stored) to delivered, per group.",
		// 1 ms to about 4 h: a healthy pipeline delivers in milliseconds, a
		// backlog after an outage in hours.
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 12),
	}, []string{"group"})
	m.reg.MustRegister(m, m.latency,
		collectors.NewBuildInfoCollector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) delivered(group string, d time.Duration) {
	m.latency.WithLabelValues(group).Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCollector, descCollectorBytes, descGroup, descRouting, descRoutingEvents, descRuntime, descQueue,
		descBacklog, descNodeUp, descFlight, descCollectorUp} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	d := m.d
	for _, c := range d.stats.Snapshot() {
		ch <- counterMetric(c.Scope, c.Event, float64(c.Value))
	}
	for _, c := range d.rt.Health() {
		ch <- prometheus.MustNewConstMetric(descCollectorUp, prometheus.GaugeValue, boolFloat(c.Running), c.Name, c.Kind)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if counts, err := d.store.Counts(ctx); err == nil {
		for _, q := range counts {
			ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(q.Count), q.Group, q.Status,
				strconv.FormatBool(q.Skipped), strconv.FormatBool(q.Parked))
		}
	}
	if n, err := d.store.Backlog(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(n))
	}
	for _, n := range d.mgr.Nodes() {
		ch <- prometheus.MustNewConstMetric(descNodeUp, prometheus.GaugeValue, boolFloat(!time.Now().Before(n.DownUntil)), n.Name)
		ch <- prometheus.MustNewConstMetric(descFlight, prometheus.GaugeValue, float64(n.InFlight), n.Name)
	}
}

// counterMetric maps a Stats counter to its family: scope "group:NAME" is a
// group, "routing_rule:NAME" a routing rule, "routing" and "runtime" the
// runtime's, anything else a collector; an event naming
// bytes is a byte count, kept apart from event counts.
func counterMetric(scope, event string, v float64) prometheus.Metric {
	if g, ok := strings.CutPrefix(scope, "group:"); ok {
		return prometheus.MustNewConstMetric(descGroup, prometheus.CounterValue, v, g, event)
	}
	if r, ok := strings.CutPrefix(scope, "routing_rule:"); ok {
		return prometheus.MustNewConstMetric(descRouting, prometheus.CounterValue, v, r)
	}
	if scope == "routing" {
		return prometheus.MustNewConstMetric(descRoutingEvents, prometheus.CounterValue, v, event)
	}
	if scope == "runtime" {
		return prometheus.MustNewConstMetric(descRuntime, prometheus.CounterValue, v, event)
	}
	if strings.Contains(event, "bytes") {
		what := strings.Trim(strings.ReplaceAll(event, "bytes", ""), "_")
		if what == "" {
			what = "read"
		}
		return prometheus.MustNewConstMetric(descCollectorBytes, prometheus.CounterValue, v, scope, what)
	}
	return prometheus.MustNewConstMetric(descCollector, prometheus.CounterValue, v, scope, event)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
