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
	KindCorrelation = "correlation"  // record 112: the FMC's correlation policy alerts
	KindIOC         = "ioc"          // record 160: a host's indication of compromise
)

var allKinds = []string{KindIntrusion, KindConnection, KindFile, KindFileMalware, KindMalware, KindCorrelation, KindIOC}

// defaultKinds are submitted unless submit says otherwise: the events an
// FMC itself raises as alerts (intrusion, correlation, IoC) and files
// found to be malware. Connection events are traffic logs, opt-in.
var defaultKinds = []string{KindIntrusion, KindFileMalware, KindCorrelation, KindIOC}

// Rules choose which decoded events become submissions.
type Rules struct {
	Kinds          map[string]bool
	Priorities     map[string]bool // ids or names, lower case; empty = any
	Classes        map[string]bool // ids or names, lower case; empty = any
	ExcludeClasses map[string]bool
	Blocked        string // any, yes, no

	// Connection events only (record 71).
	SecurityIntelligence string          // any, yes (an SI list matched), no
	SICategories         map[string]bool // SI category ids or names (metadata 280); empty = any
	Actions              map[string]bool // access control rule action ids or names (120); empty = any
	URLCategories        map[string]bool // ids or names (121); empty = any
	URLReputations       map[string]bool // ids or names (122); empty = any
}

func parseRules(sec *collector.Section) Rules {
	r := Rules{Kinds: map[string]bool{}, Blocked: sec.OneOf("blocked", "any", "any", "yes", "no"),
		SecurityIntelligence: sec.OneOf("security_intelligence", "any", "any", "yes", "no")}
	kinds := defaultKinds
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
	r.SICategories = lowerSet(sec.List("security_intelligence_categories"))
	r.Actions = lowerSet(sec.List("connection_actions"))
	r.URLCategories = lowerSet(sec.List("url_categories"))
	r.URLReputations = lowerSet(sec.List("url_reputations"))
	if !r.Kinds[KindConnection] {
		for _, k := range []string{"security_intelligence_categories", "connection_actions", "url_categories", "url_reputations"} {
			if sec.Has(k) && len(sec.List(k)) > 0 {
				sec.Errorf(k, "selects connection events, but submit does not include connection")
			}
		}
		if r.SecurityIntelligence != "any" {
			sec.Errorf("security_intelligence", "selects connection events, but submit does not include connection")
		}
	}
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
	case wire.RecCorrelation:
		return KindCorrelation
	case wire.RecIOC:
		return KindIOC
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
		if blocked, applies := isBlocked(kind, b); applies && blocked != (r.Blocked == "yes") {
			return false, "blocked"
		}
	}
	if kind == KindConnection {
		return r.matchConnection(b, names)
	}
	return true, ""
}

// isBlocked says whether the event was blocked, for the kinds where
// blocked means something.
func isBlocked(kind string, b *wire.Block) (blocked, applies bool) {
	switch kind {
	case KindIntrusion, KindCorrelation:
		return b.Uint("blocked") == 1, true
	case KindFile, KindFileMalware:
		a := b.Uint("action")
		return a == 2 || a == 4, true // block, malware block
	}
	return false, false
}

// matchConnection applies the connection-only selections.
func (r *Rules) matchConnection(b *wire.Block, names map[string]string) (ok bool, reason string) {
	// eNcore calls a connection a Security Intelligence event when its
	// source/destination-matched field is set (view.py, sec_intel_event).
	hit := b.Uint("securityIntelligenceSourceDestination") != 0
	if r.SecurityIntelligence != "any" && hit != (r.SecurityIntelligence == "yes") {
		return false, "security_intelligence"
	}
	if len(r.SICategories) > 0 {
		if !hit || !(inSet(r.SICategories, b.Uint("securityIntelligenceList1"), names["security_intelligence_category"]) ||
			inSet(r.SICategories, b.Uint("securityIntelligenceList2"), names["security_intelligence_category_2"])) {
			return false, "security_intelligence"
		}
	}
	if len(r.Actions) > 0 && !inSet(r.Actions, b.Uint("ruleAction"), names["action"]) {
		return false, "action"
	}
	if len(r.URLCategories) > 0 && !inSet(r.URLCategories, b.Uint("urlCategory"), names["url_category"]) {
		return false, "url_category"
	}
	if len(r.URLReputations) > 0 && !inSet(r.URLReputations, b.Uint("urlReputation"), names["url_reputation"]) {
		return false, "url_reputation"
	}
	return true, ""
}

// inSet reports whether a non-zero id, or its resolved name, is selected.
func inSet(set map[string]bool, id uint64, name string) bool {
	return (id != 0 && set[strconv.FormatUint(id, 10)]) || (name != "" && set[strings.ToLower(name)])
}
