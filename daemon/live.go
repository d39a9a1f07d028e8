package daemon

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
)

// The live view: the runtime and the delivery workers tell the hub of
// every stored submission and every delivery state change (hooks that only
// take a lock and append); viewers read the hub's event ring at their own
// pace. A viewer that falls behind the ring skips ahead and is told how
// many events it missed, so no viewer can slow collection or delivery.

// Defaults of [collection] live_rows and live_history.
const (
	defaultLiveRows    = 500
	defaultLiveHistory = 5000
	// A payload larger than this is not kept in memory: the detail view
	// reads it from the store.
	liveMaxPayload = 256 << 10
)

// liveRow is one stored submission in the hub's history.
type liveRow struct {
	uuid, collector, kind string
	stored                time.Time
	payload               []byte // nil when larger than liveMaxPayload
	groups                []string
	initial               []string // state per group when stored
	states                []string // current state per group (hub.mu)

	once  sync.Once
	view  *RowView
	frame []byte // the SSE "row" message, encoded once
}

// summary decodes and summarizes the row once, on first need, outside the
// hub's lock (the submitting goroutine never pays for it).
func (r *liveRow) summary() (*RowView, []byte) {
	r.once.Do(func() {
		rv := &RowView{UUID: r.uuid, Collector: r.collector, Kind: r.kind, Stored: r.stored.UnixMilli(),
			Groups: r.groups, States: map[string]string{}}
		for i, g := range r.groups {
			rv.States[g] = r.initial[i]
		}
		var sub liveSub
		if r.payload != nil && json.Unmarshal(r.payload, &sub) == nil {
			summarize(rv, &sub)
		} else {
			rv.Time = rv.Stored
		}
		r.view = rv
		r.frame = sseFrame(map[string]any{"t": "row", "row": rv})
	})
	return r.view, r.frame
}

// liveEvent is one entry of the hub's ring: a new row (group == "") or a
// delivery state change of row's group.
type liveEvent struct {
	seq                uint64
	row                *liveRow
	group, state, node string
	err                string
}

type liveHub struct {
	rowsCap   int // history
	eventsCap int
	pageRows  int // live_rows: the most rows a page keeps
	stats     *collector.Stats
	groups    []string

	mu      sync.Mutex
	rows    []*liveRow // ring; rowNext is the next slot
	rowNext int
	rowN    int
	byUUID  map[string]*liveRow
	// early holds delivery events that came before their row: a worker
	// may claim a submission before the Submit that stored it has
	// returned to call stored. Bounded; emptied when it would grow past.
	early   map[string][]groups.DeliveryEvent
	events  []liveEvent // ring indexed by seq % eventsCap
	seq     uint64      // last event
	wake    chan struct{}
	waiting bool
	viewers int
}

func newLiveHub(pageRows, history int, groupNames []string, stats *collector.Stats) *liveHub {
	if pageRows <= 0 {
		pageRows = defaultLiveRows
	}
	if history < pageRows {
		history = pageRows
	}
	evCap := max(4*history, 4096)
	return &liveHub{rowsCap: history, eventsCap: evCap, pageRows: pageRows, stats: stats, groups: groupNames,
		rows: make([]*liveRow, history), byUUID: make(map[string]*liveRow, history),
		events: make([]liveEvent, evCap), wake: make(chan struct{})}
}

// stored is the runtime's OnStored hook.
func (h *liveHub) stored(ev collector.StoredEvent) {
	r := &liveRow{uuid: ev.Sub.UUID, collector: ev.Collector, kind: ev.Kind, stored: time.Now()}
	if len(ev.Payload) <= liveMaxPayload {
		r.payload = ev.Payload
	}
	r.groups = make([]string, len(ev.Groups))
	r.initial = make([]string, len(ev.Groups))
	for i, g := range ev.Groups {
		r.groups[i] = g.Name
		r.initial[i] = "READY"
		for _, s := range ev.Skipped {
			if s == g.Name {
				r.initial[i] = "SKIPPED"
			}
		}
	}
	r.states = append([]string(nil), r.initial...)
	h.mu.Lock()
	if old := h.rows[h.rowNext]; old != nil {
		delete(h.byUUID, old.uuid)
	}
	h.rows[h.rowNext] = r
	h.rowNext = (h.rowNext + 1) % h.rowsCap
	h.rowN = min(h.rowN+1, h.rowsCap)
	h.byUUID[r.uuid] = r
	h.publishLocked(liveEvent{row: r})
	for _, ev := range h.early[r.uuid] {
		h.applyLocked(r, ev)
	}
	delete(h.early, r.uuid)
	h.mu.Unlock()
}

// liveEarlyMax bounds the delivery events kept for rows not seen yet.
const liveEarlyMax = 4096

// delivery is the delivery workers' OnDelivery hook.
func (h *liveHub) delivery(ev groups.DeliveryEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.byUUID[ev.UUID]
	if r == nil {
		// Not stored yet (the row follows), or older than the history.
		if h.early == nil || len(h.early) >= liveEarlyMax {
			h.early = map[string][]groups.DeliveryEvent{}
		}
		h.early[ev.UUID] = append(h.early[ev.UUID], ev)
		return
	}
	h.applyLocked(r, ev)
}

func (h *liveHub) applyLocked(r *liveRow, ev groups.DeliveryEvent) {
	for i, g := range r.groups {
		if g == ev.Group {
			r.states[i] = ev.State
		}
	}
	h.publishLocked(liveEvent{row: r, group: ev.Group, state: ev.State, node: ev.Node, err: ev.Error})
}

func (h *liveHub) publishLocked(ev liveEvent) {
	h.seq++
	ev.seq = h.seq
	h.events[h.seq%uint64(h.eventsCap)] = ev
	if h.waiting {
		close(h.wake)
		h.wake = make(chan struct{})
		h.waiting = false
	}
}

// waitAfter returns a channel that is closed once an event after cursor
// exists (at once when one does).
func (h *liveHub) waitAfter(cursor uint64) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seq > cursor {
		c := make(chan struct{})
		close(c)
		return c
	}
	h.waiting = true
	return h.wake
}

// since copies the events after cursor; lost counts those already
// overwritten in the ring (the viewer skips ahead over them).
func (h *liveHub) since(cursor uint64) (evs []liveEvent, lost uint64, next uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	oldest := uint64(1)
	if h.seq > uint64(h.eventsCap) {
		oldest = h.seq - uint64(h.eventsCap) + 1
	}
	if cursor+1 < oldest {
		lost = oldest - cursor - 1
		cursor = oldest - 1
	}
	evs = make([]liveEvent, 0, h.seq-cursor)
	for s := cursor + 1; s <= h.seq; s++ {
		evs = append(evs, h.events[s%uint64(h.eventsCap)])
	}
	return evs, lost, h.seq
}

// snapRow is a row with its states when a snapshot was taken.
type snapRow struct {
	row    *liveRow
	states []string
}

// snapshot returns the newest rows (newest first) that keep, with their
// current states, and the sequence number they are current at.
func (h *liveHub) snapshot(keep func(*liveRow) bool) ([]snapRow, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []snapRow
	for i := 1; i <= h.rowN; i++ {
		r := h.rows[(h.rowNext-i+h.rowsCap)%h.rowsCap]
		if keep(r) {
			out = append(out, snapRow{row: r, states: append([]string(nil), r.states...)})
		}
	}
	return out, h.seq
}

// lookup returns the row of uuid in the history, with its current states.
func (h *liveHub) lookup(uuid string) (*liveRow, map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.byUUID[uuid]
	if r == nil {
		return nil, nil
	}
	st := map[string]string{}
	for i, g := range r.groups {
		st[g] = r.states[i]
	}
	return r, st
}

func (h *liveHub) viewerDelta(n int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.viewers += n
	return h.viewers
}

// sseFrame encodes v as one server-sent event.
func sseFrame(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"t": "error", "error": err.Error()})
	}
	out := make([]byte, 0, len(b)+8)
	out = append(out, "data: "...)
	out = append(out, b...)
	return append(out, '\n', '\n')
}
