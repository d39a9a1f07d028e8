package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// TopView is what `ace-collector top` shows: rates per collector and per
// group from two consecutive status reports, queue depth by state, node
// health, and the last submissions from the live stream.
type TopView struct {
	mu         sync.Mutex
	prev, cur  *Report
	prevAt     time.Time
	curAt      time.Time
	last       []*RowView // newest last
	err        string
	collectors map[string]string // name → kind
}

const topLastRows = 50

// Update takes a new status report.
func (v *TopView) Update(rep *Report, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.prev, v.prevAt = v.cur, v.curAt
	v.cur, v.curAt = rep, at
	v.err = ""
}

// Fail shows why the daemon could not be read.
func (v *TopView) Fail(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.err = err.Error()
}

// Event applies one message of the live stream.
func (v *TopView) Event(m map[string]json.RawMessage) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var t string
	json.Unmarshal(m["t"], &t)
	switch t {
	case "hello":
		var cs []map[string]string
		json.Unmarshal(m["collectors"], &cs)
		v.collectors = map[string]string{}
		for _, c := range cs {
			v.collectors[c["name"]] = c["kind"]
		}
	case "row":
		var r RowView
		if json.Unmarshal(m["row"], &r) == nil {
			v.last = append(v.last, &r)
			if len(v.last) > topLastRows {
				v.last = v.last[len(v.last)-topLastRows:]
			}
		}
	case "state":
		var s struct{ UUID, Group, State string }
		for k, dst := range map[string]*string{"uuid": &s.UUID, "group": &s.Group, "state": &s.State} {
			json.Unmarshal(m[k], dst)
		}
		for _, r := range v.last {
			if r.UUID == s.UUID && r.States != nil {
				r.States[s.Group] = s.State
			}
		}
	}
}

// rate is the per-second increase of counter (scope, event) between the
// last two reports.
func (v *TopView) rate(scope string, events ...string) float64 {
	if v.prev == nil || v.cur == nil {
		return 0
	}
	secs := v.curAt.Sub(v.prevAt).Seconds()
	if secs <= 0 {
		return 0
	}
	get := func(r *Report) int64 {
		var n int64
		for _, c := range r.Counters {
			if c.Scope == scope && slices.Contains(events, c.Event) {
				n += c.Value
			}
		}
		return n
	}
	return float64(get(v.cur)-get(v.prev)) / secs
}

func (v *TopView) counter(scope, event string) int64 {
	for _, c := range v.cur.Counters {
		if c.Scope == scope && c.Event == event {
			return c.Value
		}
	}
	return 0
}

// Render writes one screen of at most width columns and height lines.
func (v *TopView) Render(w io.Writer, width, height int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, clip(fmt.Sprintf(format, a...), width)) }
	if v.cur == nil {
		add("ace-collector top: waiting for the daemon%s   (q quits)", errSuffix(v.err))
		writeScreen(w, lines, height)
		return
	}
	health := "?"
	if v.cur.Health != nil {
		health = v.cur.Health.Status
	}
	add("ace-collector %s  %s  health %s  backlog %d  %s  (q quits)", v.cur.Version, v.cur.Instance, health,
		v.cur.Backlog, v.curAt.Format("15:04:05"))
	if v.err != "" {
		add("! %s", v.err)
	}
	add("%-22s %-10s %9s %10s %9s", "COLLECTOR", "KIND", "STORED/S", "STORED", "FAILED")
	for _, name := range v.collectorNames() {
		add("%-22s %-10s %9.1f %10d %9d", clip(name, 22), clip(v.collectors[name], 10), v.rate(name, "stored"),
			v.counter(name, "stored"), v.counter(name, "store_failed"))
	}
	add("%-14s %7s %7s %9s %7s %8s %7s %s", "GROUP", "READY", "LOCKED", "COMPLETED", "ERROR", "DELIV/S", "FAIL/S", "BLOCKED")
	for _, g := range v.cur.Groups {
		depth := map[string]int64{}
		for _, q := range v.cur.Queue {
			if q.Group == g.Name {
				depth[q.State] += q.Count
			}
		}
		scope := "group:" + g.Name
		add("%-14s %7d %7d %9d %7d %8.1f %7.1f %s", clip(g.Name, 14), depth["READY"], depth["LOCKED"], depth["COMPLETED"],
			depth["ERROR"], v.rate(scope, "delivered"), v.rate(scope, "errors", "retried"), g.Blocked)
	}
	if len(v.cur.Nodes) > 0 {
		add("%-14s %-30s %9s %9s %s", "NODE", "LOCATION", "IN FLIGHT", "FAILURES", "STATE")
		for _, n := range v.cur.Nodes {
			state := "up"
			if n.DownUntil != nil {
				state = "backing off until " + n.DownUntil.Format("15:04:05")
			}
			add("%-14s %-30s %9d %9d %s", clip(n.Node, 14), clip(n.Location, 30), n.InFlight, n.Failures, state)
		}
	}
	add("LAST SUBMISSIONS")
	room := height - len(lines)
	for i := len(v.last) - 1; i >= 0 && room > 0; i, room = i-1, room-1 {
		r := v.last[i]
		add("%s %-14s %-10s %s", time.UnixMilli(r.Stored).Format("15:04:05"), clip(r.Collector, 14),
			clip(statesText(r), 10), r.Description)
	}
	writeScreen(w, lines, height)
}

func (v *TopView) collectorNames() []string {
	names := map[string]bool{}
	for n := range v.collectors {
		names[n] = true
	}
	for _, c := range v.cur.Counters {
		if c.Event == "stored" && !strings.Contains(c.Scope, ":") && c.Scope != "runtime" && c.Scope != "live" {
			names[c.Scope] = true
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// statesText summarizes a row's delivery: the one state all groups share,
// or how many groups are done.
func statesText(r *RowView) string {
	if len(r.States) == 0 {
		return "-"
	}
	done, first, same := 0, "", true
	for _, s := range r.States {
		if first == "" {
			first = s
		} else if s != first {
			same = false
		}
		if s == "COMPLETED" || s == "SKIPPED" {
			done++
		}
	}
	if same {
		return strings.ToLower(first)
	}
	return fmt.Sprintf("%d/%d done", done, len(r.States))
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

// clip cuts s to n columns (runes), marking the cut.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + "…"
}

// writeScreen redraws the terminal: home, each line cleared to its end,
// the rest of the screen cleared.
func writeScreen(w io.Writer, lines []string, height int) {
	var b strings.Builder
	b.WriteString("\x1b[H")
	for i, l := range lines {
		if i >= height {
			break
		}
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(l + "\x1b[K")
	}
	b.WriteString("\x1b[J")
	io.WriteString(w, b.String())
}

// TopOptions configure RunTop.
type TopOptions struct {
	Out      io.Writer
	Keys     <-chan byte                // keys typed; 'q' quits
	Size     func() (width, height int) // the terminal's size; default 80×24
	Interval time.Duration              // refresh interval; default 1s
}

// RunTop shows the running daemon of cfg until ctx ends or 'q' is typed:
// the status report every Interval, the last submissions as the live
// stream delivers them.
func RunTop(ctx context.Context, cfg *Config, o TopOptions) error {
	if o.Size == nil {
		o.Size = func() (int, int) { return 80, 24 }
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	base, client, err := StatusClient(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	v := &TopView{}
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() { defer wg.Done(); v.follow(ctx, client, base) }()
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		if rep, err := fetchReport(ctx, client, base); err != nil {
			v.Fail(err)
		} else {
			v.Update(rep, time.Now())
		}
		w, h := o.Size()
		v.Render(o.Out, w, h)
		select {
		case <-ctx.Done():
			return nil
		case k, ok := <-o.Keys:
			if !ok {
				o.Keys = nil // input ended: run until ctx ends
			} else if k == 'q' || k == 'Q' || k == 3 { // 3: ^C in raw mode
				return nil
			}
		case <-tick.C:
		}
	}
}

func fetchReport(ctx context.Context, client *http.Client, base string) (*Report, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status.json", nil)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/status.json: %s", base, resp.Status)
	}
	var rep Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return nil, fmt.Errorf("%s/status.json: %w", base, err)
	}
	return &rep, nil
}

// follow reads the live stream into v, reconnecting (after a pause) when
// it ends, until ctx ends.
func (v *TopView) follow(ctx context.Context, client *http.Client, base string) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/live/events?limit=20", nil)
		if resp, err := client.Do(req); err == nil {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					var m map[string]json.RawMessage
					if json.Unmarshal([]byte(d), &m) == nil {
						v.Event(m)
					}
				}
			}
			resp.Body.Close()
		}
		t := time.NewTimer(2 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}
