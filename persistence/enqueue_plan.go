package persistence

import (
	"cmp"
	"slices"

	"github.com/ace-collector/ace-collector/collector"
)

// The decision step of an enqueue round: given what the store already
// holds (facts), which submissions of the round are stored, which are
// duplicates, and which groups each is delivered to. Pure, so that dedup
// and coverage are tested as a table (enqueue_plan_test.go).

// dedupRef names one dedup key: its source and the key's hash.
type dedupRef struct{ source, hash string }

// facts is what the store holds before the round is written.
type facts struct {
	stored   map[string]bool   // uuids already queued
	known    map[dedupRef]bool // dedup keys remembered before this round
	counters map[string]int    // coverage counters of the sampled groups, by name
}

// verdict is the decision for one submission of a round.
type verdict struct {
	store     bool     // insert it
	duplicate bool     // its dedup key is remembered: dropped
	deliver   []string // groups it is delivered to (READY)
	skipped   []string // groups coverage skipped (recorded COMPLETED, skipped)
}

// plan is the decision for a round.
type plan struct {
	verdicts []verdict      // one per submission, in order
	keys     []dedupRef     // dedup keys to remember or refresh, each once
	counters map[string]int // coverage counters after the round
}

// decide applies, in order:
//   - a uuid already queued, or seen earlier in the round, is stored
//     already: nothing is written, and it is not an error;
//   - a dedup key remembered before, or used earlier in the round, makes
//     the submission a duplicate (its key is refreshed all the same, as
//     ACE does);
//   - otherwise the submission is stored, and each of its groups with
//     coverage below 100 takes ACE's running counter: add the coverage;
//     below 100 skip, else deliver and subtract 100. The counter is exact
//     over any window of 100/gcd submissions, and stored, so a restart
//     changes no decision.
func decide(works []*collector.QueuedWork, f facts) plan {
	p := plan{verdicts: make([]verdict, len(works)), counters: map[string]int{}}
	for g, c := range f.counters {
		p.counters[g] = c
	}
	seen := map[string]bool{}
	used := map[dedupRef]bool{}
	for i, w := range works {
		if f.stored[w.UUID] || seen[w.UUID] {
			continue
		}
		seen[w.UUID] = true
		if w.DedupKey != "" {
			ref := dedupRef{w.DedupSource, DedupHash(w.DedupKey)}
			dup := f.known[ref] || used[ref]
			if !used[ref] {
				used[ref] = true
				p.keys = append(p.keys, ref)
			}
			if dup {
				p.verdicts[i].duplicate = true
				continue
			}
		}
		p.verdicts[i] = cover(w.Groups, p.counters)
	}
	return p
}

// cover decides, for a submission to store, which groups deliver it,
// advancing counters.
func cover(groups []collector.GroupTarget, counters map[string]int) verdict {
	v := verdict{store: true}
	for _, g := range groups {
		if g.Coverage >= 100 {
			v.deliver = append(v.deliver, g.Name)
			continue
		}
		c := counters[g.Name] + g.Coverage
		if c < 100 {
			v.skipped = append(v.skipped, g.Name)
		} else {
			c -= 100
			v.deliver = append(v.deliver, g.Name)
		}
		counters[g.Name] = c
	}
	return v
}

// dedupKeys lists, once each and in order, the dedup keys decide will
// look up: those of works not already stored (nor repeated in the round).
func dedupKeys(works []*collector.QueuedWork, stored map[string]bool) []dedupRef {
	var out []dedupRef
	seen := map[dedupRef]bool{}
	uuids := map[string]bool{}
	for _, w := range works {
		if stored[w.UUID] || uuids[w.UUID] {
			continue
		}
		uuids[w.UUID] = true
		if w.DedupKey == "" {
			continue
		}
		ref := dedupRef{w.DedupSource, DedupHash(w.DedupKey)}
		if !seen[ref] {
			seen[ref] = true
			out = append(out, ref)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare[string])
	return keys
}
