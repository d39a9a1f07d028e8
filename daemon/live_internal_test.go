package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
)

func storedEvent(name string, i int) collector.StoredEvent {
	sub := collector.NewSubmission(fmt.Sprintf("sub %d", i))
	payload, _ := json.Marshal(sub)
	return collector.StoredEvent{Collector: name, Kind: "k", Sub: sub, Payload: payload,
		Groups: []collector.GroupTarget{{Name: "g"}, {Name: "h"}}, Skipped: []string{"h"}}
}

func frames(buf *bytes.Buffer) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(buf.String(), "\n") {
		if d, ok := strings.CutPrefix(l, "data: "); ok {
			var m map[string]any
			json.Unmarshal([]byte(d), &m)
			out = append(out, m)
		}
	}
	return out
}

// A viewer behind the event ring skips ahead: it gets the newest rows (at
// most its limit) and one message counting what it missed; publishing never
// waited for it.
func TestLiveViewerSkipsAhead(t *testing.T) {
	h := newLiveHub(5, 100, []string{"g", "h"}, collector.NewStats())
	h.eventsCap = 50
	h.events = make([]liveEvent, 50)
	d := &Daemon{live: h, stats: h.stats}
	var uuids []string
	for i := range 120 {
		ev := storedEvent("c", i)
		h.stored(ev)
		h.delivery(groups.DeliveryEvent{Group: "g", UUID: ev.Sub.UUID, State: "COMPLETED"})
		uuids = append(uuids, ev.Sub.UUID)
	}
	f := viewFilter{limit: 5}
	var buf bytes.Buffer
	next := d.appendEvents(&buf, &f, 0)
	if next != 240 {
		t.Fatalf("cursor %d, want 240", next)
	}
	var rows []string
	skipped := 0.0
	for _, m := range frames(&buf) {
		switch m["t"] {
		case "row":
			rows = append(rows, m["row"].(map[string]any)["uuid"].(string))
		case "skipped":
			skipped = m["n"].(float64)
		}
	}
	// 190 events were overwritten (95 rows); of the 25 rows left, the 20
	// oldest are over the limit.
	if fmt.Sprint(rows) != fmt.Sprint(uuids[115:]) || skipped != 190+20 {
		t.Fatalf("rows %d (%v), skipped %v", len(rows), rows, skipped)
	}
	if h.stats.Get("live", "rows_skipped") != 210 {
		t.Errorf("rows_skipped %d", h.stats.Get("live", "rows_skipped"))
	}
	// Nothing new: nothing written.
	buf.Reset()
	if d.appendEvents(&buf, &f, next); buf.Len() != 0 {
		t.Fatalf("wrote %q", buf.String())
	}
	// The snapshot has current states; the history is bounded.
	snap, seq := h.snapshot(f.cheap)
	if len(snap) != 100 || seq != 240 || snap[0].row.uuid != uuids[119] || fmt.Sprint(snap[0].states) != "[COMPLETED SKIPPED]" {
		t.Fatalf("snapshot %d rows at %d: %+v", len(snap), seq, snap[0])
	}
	if r, _ := h.lookup(uuids[0]); r != nil || len(h.byUUID) != 100 {
		t.Fatalf("history not bounded: %d", len(h.byUUID))
	}
}

func TestLiveFilterGroup(t *testing.T) {
	h := newLiveHub(10, 100, []string{"g", "h"}, collector.NewStats())
	d := &Daemon{live: h, stats: h.stats}
	a := storedEvent("a", 1)
	a.Groups = a.Groups[:1] // only g
	h.stored(a)
	b := storedEvent("b", 2)
	h.stored(b)
	h.delivery(groups.DeliveryEvent{Group: "g", UUID: a.Sub.UUID, State: "LOCKED", Node: "n1"})
	h.delivery(groups.DeliveryEvent{Group: "h", UUID: b.Sub.UUID, State: "LOCKED", Node: "n2"})
	var buf bytes.Buffer
	f := viewFilter{limit: 10, group: "h"}
	d.appendEvents(&buf, &f, 0)
	var got []string
	for _, m := range frames(&buf) {
		switch m["t"] {
		case "row":
			got = append(got, "row "+m["row"].(map[string]any)["collector"].(string))
		case "state":
			got = append(got, "state "+m["group"].(string)+" "+m["node"].(string))
		}
	}
	if fmt.Sprint(got) != "[row b state h n2]" {
		t.Fatalf("group h viewer got %v", got)
	}
}
