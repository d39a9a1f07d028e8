package groups

import (
	"testing"
	"time"
)

func weighted(specs ...any) []Node {
	var out []Node
	for i := 0; i < len(specs); i += 2 {
		name := specs[i].(string)
		out = append(out, Node{Name: name, Location: name + ":443", AnyMode: true, Weight: specs[i+1].(int)})
	}
	return out
}

// pickN picks n times, each delivery finishing before the next (one
// worker), and counts the picks per node.
func pickN(h *nodeHealth, cands []Node, n int) map[string]int {
	got := map[string]int{}
	now := time.Now()
	for range n {
		i, _ := h.pick(cands, now, "")
		got[cands[i].Name]++
		h.done(cands[i].Location, false, now, time.Second, time.Second)
	}
	return got
}

// Smooth weighted round robin: with deliveries finishing in turn the split
// is exact, and interleaved (no long runs on the heavy node).
func TestPickSharesByWeight(t *testing.T) {
	for _, tt := range []struct {
		cands []Node
		n     int
		want  map[string]int
	}{
		{weighted("a", 3, "b", 1), 4000, map[string]int{"a": 3000, "b": 1000}},
		{weighted("a", 1, "b", 1), 10, map[string]int{"a": 5, "b": 5}},
		{weighted("a", 5, "b", 3, "c", 2), 1000, map[string]int{"a": 500, "b": 300, "c": 200}},
		{weighted("a", 0, "b", 0), 6, map[string]int{"a": 3, "b": 3}}, // 0 counts as 1 (an ACE database node)
	} {
		got := pickN(newNodeHealth(), tt.cands, tt.n)
		for name, want := range tt.want {
			if got[name] != want {
				t.Errorf("%v over %d picks: %v, want %v", tt.cands, tt.n, got, tt.want)
				break
			}
		}
	}
	h := newNodeHealth()
	cands := weighted("a", 3, "b", 1)
	run := 0
	for range 400 {
		i, _ := h.pick(cands, time.Now(), "")
		h.done(cands[i].Location, false, time.Now(), time.Second, time.Second)
		if cands[i].Name == "a" {
			run++
		} else {
			run = 0
		}
		if run > 3 {
			t.Fatalf("node a picked %d times in a row with weights 3:1", run)
		}
	}
}

// A node with deliveries stuck in flight gets nothing more until they
// finish: past its weighted share of what is in flight (plus one), it is
// passed over whatever the round robin says.
func TestPickPassesOverASlowNode(t *testing.T) {
	h := newNodeHealth()
	cands := weighted("a", 3, "b", 1)
	now := time.Now()
	for range 3 { // three deliveries to b hang
		h.state("b:443").inFlight++
	}
	for k := range 6 {
		i, _ := h.pick(cands, now, "")
		if cands[i].Name != "a" {
			t.Fatalf("pick %d went to b, which holds 3 deliveries in flight at weight 1", k)
		}
		h.done(cands[i].Location, false, now, time.Second, time.Second)
	}
	// Concurrent workers on nodes that keep up: the split stays 3:1.
	got := map[string]int{}
	h = newNodeHealth()
	var flying []int
	for range 4000 {
		i, _ := h.pick(cands, now, "")
		got[cands[i].Name]++
		flying = append(flying, i)
		if len(flying) == 4 { // four workers: the oldest delivery finishes
			h.done(cands[flying[0]].Location, false, now, time.Second, time.Second)
			flying = flying[1:]
		}
	}
	if got["a"] < 2940 || got["a"] > 3060 || got["b"] < 980 || got["b"] > 1020 {
		t.Fatalf("four deliveries in flight at a time: %v, want 3000 / 1000 ± 2 %%", got)
	}
}

// The least reported workload (an ACE node database's COUNT(workload))
// comes before the round robin.
func TestPickPrefersLeastWorkload(t *testing.T) {
	h := newNodeHealth()
	cands := weighted("a", 3, "b", 1)
	cands[0].Workload = 5
	if got := pickN(h, cands, 4); got["b"] != 4 {
		t.Fatalf("picks %v, want all on b (workload 0 against 5)", got)
	}
}

// A failed node drops out while it backs off and its share goes to the
// others; a retried item avoids the node that failed it while another is
// usable, but still goes there when it is the only one.
func TestPickSkipsFailedAndAvoidedNodes(t *testing.T) {
	h := newNodeHealth()
	cands := weighted("a", 3, "b", 1)
	now := time.Now()
	i, _ := h.pick(cands, now, "")
	h.done(cands[i].Location, true, now, time.Minute, time.Minute) // a fails: backs off
	if got := pickN(h, cands, 8); got["b"] != 8 {
		t.Fatalf("while a backs off: %v, want all 8 on b", got)
	}
	later := now.Add(2 * time.Minute)
	if i, _ := h.pick(cands, later, "a:443"); cands[i].Name != "b" {
		t.Fatalf("retried item went to %s, the node that failed it", cands[i].Name)
	}
	h.done("b:443", false, later, time.Minute, time.Minute)
	if i, _ := h.pick(cands[:1], later, "a:443"); i != 0 {
		t.Fatalf("the only node was not picked for an item it failed: %d", i)
	}
	h.done("a:443", false, later, time.Minute, time.Minute)
	if !h.usableBesides(cands, "a:443", later) {
		t.Fatal("b is usable besides a")
	}
	h.done("b:443", true, later, time.Minute, time.Minute)
	if h.usableBesides(cands, "a:443", later) {
		t.Fatal("b backs off: nothing is usable besides a")
	}
}
