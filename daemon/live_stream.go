package daemon

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Viewer pacing: at most one write per liveFlushEvery (a fast stream is
// coalesced), a comment line every liveKeepAlive so proxies keep the
// connection, and a viewer whose write does not complete within
// liveWriteTimeout is dropped.
const (
	liveFlushEvery   = 200 * time.Millisecond
	liveKeepAlive    = 15 * time.Second
	liveWriteTimeout = 10 * time.Second
	// liveRowsPerFlush caps the new rows of one write (so at most 500
	// rows a second reach a viewer): a faster stream is more than a page
	// can show, and the viewer skips ahead, told how many it skipped.
	liveRowsPerFlush = 100
)

// viewFilter is what one viewer asked for: the stream carries nothing else.
type viewFilter struct {
	limit      int
	collectors []string // empty: all
	group      string   // "": all
	noFlows    bool     // hide flow-only rows
}

func parseViewFilter(q map[string][]string, pageRows int) viewFilter {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := viewFilter{limit: pageRows, group: get("group"), noFlows: get("flows") == "0"}
	if n, err := strconv.Atoi(get("limit")); err == nil && n > 0 && n < pageRows {
		f.limit = n
	}
	for _, c := range strings.Split(get("collector"), ",") {
		if c = strings.TrimSpace(c); c != "" {
			f.collectors = append(f.collectors, c)
		}
	}
	return f
}

// cheap reports whether r passes the filters that need no decoding.
func (f *viewFilter) cheap(r *liveRow) bool {
	if len(f.collectors) > 0 && !slices.Contains(f.collectors, r.collector) {
		return false
	}
	return f.group == "" || slices.Contains(r.groups, f.group)
}

func (f *viewFilter) keep(r *liveRow) bool {
	if !f.cheap(r) {
		return false
	}
	if f.noFlows {
		if v, _ := r.summary(); v.FlowOnly {
			return false
		}
	}
	return true
}

// serveEvents streams the live view as server-sent events: a hello, the
// newest rows that pass the viewer's filter with their current states,
// then new rows and state changes as they happen.
func (d *Daemon) serveEvents(w http.ResponseWriter, r *http.Request) {
	h := d.live
	f := parseViewFilter(r.URL.Query(), h.pageRows)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	n := h.viewerDelta(1)
	defer h.viewerDelta(-1)
	d.stats.Add("live", "viewers_connected", 1)
	d.log.Debug("live viewer connected", "remote", r.RemoteAddr, "viewers", n)

	var buf bytes.Buffer
	collectors := make([]map[string]string, 0, len(d.cfg.Collectors))
	for _, c := range d.cfg.Collectors {
		collectors = append(collectors, map[string]string{"name": c.Name, "kind": c.Kind})
	}
	buf.Write(sseFrame(map[string]any{"t": "hello", "limit": f.limit, "groups": h.groups, "collectors": collectors,
		"instance": d.cfg.Instance}))
	snap, cursor := h.snapshot(f.cheap)
	var rows []snapRow
	for _, s := range snap {
		if len(rows) == f.limit {
			break
		}
		if f.keep(s.row) {
			rows = append(rows, s)
		}
	}
	for i := len(rows) - 1; i >= 0; i-- { // oldest first, as they arrived
		_, frame := rows[i].row.summary()
		buf.Write(frame)
		for j, g := range rows[i].row.groups {
			if rows[i].states[j] != rows[i].row.initial[j] {
				buf.Write(sseFrame(map[string]any{"t": "state", "uuid": rows[i].row.uuid, "group": g, "state": rows[i].states[j]}))
			}
		}
	}
	if !d.writeViewer(rc, w, &buf) {
		return
	}
	keepAlive := time.NewTicker(liveKeepAlive)
	defer keepAlive.Stop()
	last := time.Now()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			buf.WriteString(": keep-alive\n\n")
		case <-h.waitAfter(cursor):
			// Coalesce: a burst becomes one write per liveFlushEvery.
			if wait := liveFlushEvery - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-r.Context().Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			cursor = d.appendEvents(&buf, &f, cursor)
		}
		last = time.Now()
		if !d.writeViewer(rc, w, &buf) {
			return
		}
	}
}

// appendEvents writes the events after cursor that pass f: at most
// f.limit (and liveRowsPerFlush) new rows, the newest, counting what it
// skipped, and the state changes of rows the viewer has.
func (d *Daemon) appendEvents(buf *bytes.Buffer, f *viewFilter, cursor uint64) uint64 {
	evs, lost, next := d.live.since(cursor)
	rows := 0
	for _, ev := range evs {
		if ev.group == "" && f.cheap(ev.row) {
			rows++
		}
	}
	skip := max(rows-min(f.limit, liveRowsPerFlush), 0) // the oldest rows of this batch
	skipped := int(lost) + skip
	dropped := map[*liveRow]bool{}
	for _, ev := range evs {
		if ev.group == "" {
			if !f.cheap(ev.row) {
				continue
			}
			if skip > 0 || !f.keep(ev.row) {
				skip = max(skip-1, 0)
				dropped[ev.row] = true
				continue
			}
			_, frame := ev.row.summary()
			buf.Write(frame)
			continue
		}
		if (f.group != "" && ev.group != f.group) || dropped[ev.row] || !f.cheap(ev.row) {
			continue
		}
		// State changes of rows sent earlier go out too: the page ignores
		// those of rows it no longer has.
		if !f.noFlows || f.keep(ev.row) {
			buf.Write(sseFrame(map[string]any{"t": "state", "uuid": ev.row.uuid, "group": ev.group, "state": ev.state,
				"node": ev.node, "error": ev.err}))
		}
	}
	if skipped > 0 {
		d.stats.Add("live", "rows_skipped", int64(skipped))
		buf.Write(sseFrame(map[string]any{"t": "skipped", "n": skipped}))
	}
	return next
}

// writeViewer sends what buf holds; false drops the viewer (gone, or too
// slow to take it within liveWriteTimeout).
func (d *Daemon) writeViewer(rc *http.ResponseController, w http.ResponseWriter, buf *bytes.Buffer) bool {
	if buf.Len() == 0 {
		return true
	}
	rc.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
	_, err := w.Write(buf.Bytes())
	if err == nil {
		err = rc.Flush()
	}
	buf.Reset()
	if err != nil {
		d.stats.Add("live", "viewers_dropped", 1)
		d.log.Debug("live viewer dropped", "error", err)
		return false
	}
	return true
}
