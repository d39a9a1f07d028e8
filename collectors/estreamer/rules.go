package estreamer

import (
	"strconv"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// Event kinds that rules select (submit = ...).
const (
	KindIntrusion   = "intrusion"    // record 400
	KindConnection  = "connection"   // record 71
	KindFile        = "file"         // record 500
	KindFileMalware = "file_malware" // record 502
	KindMalware     = "malware"      // record 125
)

var allKinds = []string{KindIntrusion, KindConnection, KindFile, KindFileMalware, KindMalware}

// Rules choose which decoded events become submissions.
type Rules struct {
	Kinds          map[string]bool
	Priorities     map[string]bool // ids or names, lower case; empty = any
	Classes        map[string]bool // ids or names, lower case; empty = any
	ExcludeClasses map[string]bool
	Blocked        string // any, yes, no
}

func parseRules(sec *collector.Section) Rules {
	r := Rules{Kinds: map[string]bool{}, Blocked: sec.OneOf("blocked", "any", "any", "yes", "no")}
	kinds := []string{KindIntrusion, KindFileMalware}
	if sec.Has("submit") {
		kinds = sec.List("submit")
	} else {
		sec.Ignore("submit")
	}
	for _, k := range kinds {
		k = strings.ToLower(k)
		ok := false
		for _, a := range allKinds {
			ok = ok || a == k
		}
		if !ok {
			sec.Errorf("submit", "%q is not one of %s", k, strings.Join(allKinds, ", "))
			continue
		}
		r.Kinds[k] = true
	}
	r.Priorities = lowerSet(sec.List("priorities"))
	r.Classes = lowerSet(sec.List("classifications"))
	r.ExcludeClasses = lowerSet(sec.List("exclude_classifications"))
	return r
}

func lowerSet(items []string) map[string]bool {
	m := map[string]bool{}
	for _, it := range items {
		m[strings.ToLower(it)] = true
	}
	return m
}

// kindOf maps a record type to its rule kind ("" for non-events).
func kindOf(rec uint32) string {
	switch rec {
	case wire.RecIntrusion:
		return KindIntrusion
	case wire.RecConnection:
		return KindConnection
	case wire.RecFile:
		return KindFile
	case wire.RecFileMalware:
		return KindFileMalware
	case wire.RecMalware:
		return KindMalware
	}
	return ""
}

// match decides whether an event becomes a submission; reason names the
// rule that filtered it (for the drop counter).
func (r *Rules) match(kind string, b *wire.Block, names map[string]string) (ok bool, reason string) {
	if !r.Kinds[kind] {
		return false, "kind"
	}
	if len(r.Priorities) > 0 && b.Has("priorityId") {
		id := strconv.FormatUint(b.Uint("priorityId"), 10)
		if !r.Priorities[id] && !r.Priorities[strings.ToLower(names["priority"])] {
			return false, "priority"
		}
	}
	if b.Has("classificationId") {
		id := strconv.FormatUint(b.Uint("classificationId"), 10)
		name := strings.ToLower(names["classification"])
		if len(r.Classes) > 0 && !r.Classes[id] && (name == "" || !r.Classes[name]) {
			return false, "classification"
		}
		if r.ExcludeClasses[id] || (name != "" && r.ExcludeClasses[name]) {
			return false, "classification"
		}
	}
	if r.Blocked != "any" {
		var blocked, applies bool
		switch kind {
		case KindIntrusion:
			applies, blocked = true, b.Uint("blocked") == 1
		case KindFile, KindFileMalware:
			a := b.Uint("action")
			applies, blocked = true, a == 2 || a == 4 // block, malware block
		}
		if applies && blocked != (r.Blocked == "yes") {
			return false, "blocked"
		}
	}
	return true, ""
}
