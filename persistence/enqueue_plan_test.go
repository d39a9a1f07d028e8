package persistence

import (
	"reflect"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
)

// planWork is a submission of a decide test: its uuid, dedup key (source
// "src"; empty for none) and groups.
func planWork(uuid, key string, groups ...collector.GroupTarget) *collector.QueuedWork {
	w := &collector.QueuedWork{UUID: uuid, Type: "t", Mode: "analysis", Groups: groups}
	if key != "" {
		w.DedupSource, w.DedupKey = "src", key
	}
	return w
}

func ref(key string) dedupRef { return dedupRef{"src", DedupHash(key)} }

func TestDecide(t *testing.T) {
	all, half, third := target("all", 100), target("half", 50), target("third", 30)
	stored := verdict{store: true}
	deliver := func(gs ...string) verdict { return verdict{store: true, deliver: gs} }
	tests := []struct {
		name     string
		works    []*collector.QueuedWork
		facts    facts
		want     []verdict
		keys     []dedupRef
		counters map[string]int
	}{
		{
			name:  "new submissions are stored for their groups",
			works: []*collector.QueuedWork{planWork("u1", "", all), planWork("u2", "")},
			want:  []verdict{deliver("all"), stored},
		},
		{
			name:  "a uuid already queued is stored already: nothing written, no error",
			works: []*collector.QueuedWork{planWork("u1", "k1", all), planWork("u2", "", all)},
			facts: facts{stored: map[string]bool{"u1": true}},
			want:  []verdict{{}, deliver("all")},
		},
		{
			name:  "the same uuid twice in a round is stored once",
			works: []*collector.QueuedWork{planWork("u1", "", all), planWork("u1", "", all)},
			want:  []verdict{deliver("all"), {}},
		},
		{
			name:  "a remembered dedup key makes a duplicate, refreshed all the same",
			works: []*collector.QueuedWork{planWork("u1", "k1", all), planWork("u2", "k2", all)},
			facts: facts{known: map[dedupRef]bool{ref("k1"): true}},
			want:  []verdict{{duplicate: true}, deliver("all")},
			keys:  []dedupRef{ref("k1"), ref("k2")},
		},
		{
			name:  "a dedup key used twice in a round: the second is the duplicate, the key listed once",
			works: []*collector.QueuedWork{planWork("u1", "k1", all), planWork("u2", "k1", all), planWork("u3", "k1", all)},
			want:  []verdict{deliver("all"), {duplicate: true}, {duplicate: true}},
			keys:  []dedupRef{ref("k1")},
		},
		{
			name:  "a dedup key of a uuid already queued is not looked at",
			works: []*collector.QueuedWork{planWork("u1", "k1", all), planWork("u2", "k1", all)},
			facts: facts{stored: map[string]bool{"u1": true}},
			want:  []verdict{{}, deliver("all")},
			keys:  []dedupRef{ref("k1")},
		},
		{
			name: "coverage 30 from 0: ACE's running counter delivers the 4th and the 7th",
			works: []*collector.QueuedWork{planWork("u1", "", third), planWork("u2", "", third), planWork("u3", "", third),
				planWork("u4", "", third), planWork("u5", "", third), planWork("u6", "", third), planWork("u7", "", third)},
			facts: facts{counters: map[string]int{"third": 0}},
			want: []verdict{
				{store: true, skipped: []string{"third"}}, {store: true, skipped: []string{"third"}},
				{store: true, skipped: []string{"third"}}, deliver("third"),
				{store: true, skipped: []string{"third"}}, {store: true, skipped: []string{"third"}}, deliver("third"),
			},
			counters: map[string]int{"third": 10},
		},
		{
			name:     "the stored counter carries over: coverage 50 at 50 delivers the first",
			works:    []*collector.QueuedWork{planWork("u1", "", half), planWork("u2", "", half)},
			facts:    facts{counters: map[string]int{"half": 50}},
			want:     []verdict{deliver("half"), {store: true, skipped: []string{"half"}}},
			counters: map[string]int{"half": 50},
		},
		{
			name: "duplicates and uuids already queued do not advance the counter",
			works: []*collector.QueuedWork{planWork("u1", "k1", half), planWork("u2", "", half),
				planWork("u3", "", half)},
			facts:    facts{stored: map[string]bool{"u2": true}, known: map[dedupRef]bool{ref("k1"): true}, counters: map[string]int{"half": 0}},
			want:     []verdict{{duplicate: true}, {}, {store: true, skipped: []string{"half"}}},
			keys:     []dedupRef{ref("k1")},
			counters: map[string]int{"half": 50},
		},
		{
			name:  "each group of a submission decides on its own",
			works: []*collector.QueuedWork{planWork("u1", "", all, half, third), planWork("u2", "", all, half, third)},
			facts: facts{counters: map[string]int{"half": 0, "third": 70}},
			want: []verdict{{store: true, deliver: []string{"all", "third"}, skipped: []string{"half"}},
				{store: true, deliver: []string{"all", "half"}, skipped: []string{"third"}}},
			counters: map[string]int{"half": 0, "third": 30},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.facts.stored == nil {
				tt.facts.stored = map[string]bool{}
			}
			if tt.facts.known == nil {
				tt.facts.known = map[dedupRef]bool{}
			}
			if tt.facts.counters == nil {
				tt.facts.counters = map[string]int{}
			}
			p := decide(tt.works, tt.facts)
			if !reflect.DeepEqual(p.verdicts, tt.want) {
				t.Errorf("verdicts\n got %+v\nwant %+v", p.verdicts, tt.want)
			}
			if !reflect.DeepEqual(p.keys, tt.keys) {
				t.Errorf("keys %v, want %v", p.keys, tt.keys)
			}
			if tt.counters == nil {
				tt.counters = map[string]int{}
			}
			if !reflect.DeepEqual(p.counters, tt.counters) {
				t.Errorf("counters %v, want %v", p.counters, tt.counters)
			}
			// dedupKeys, which readKnownKeys looks up, lists what decide
			// consults, in the same order.
			if got := dedupKeys(tt.works, tt.facts.stored); !reflect.DeepEqual(got, tt.keys) {
				t.Errorf("dedupKeys %v, want %v", got, tt.keys)
			}
		})
	}
}
