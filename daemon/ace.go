package daemon

import (
	"net"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
)

// Section prefixes this project reads; a section that looks like one of
// them misspelt is an error, since everything in it would be ignored.
var ownPrefixes = []string{"collector_", "collection_group_", "node_", "database_", "tuning_rule_"}

// ownSections are whole sections this project reads.
var ownSections = []string{"global", "collection", "SSL", "node_translation", "service_engine"}

// checkACESections reports the sections nobody read: a misspelt section
// name is an error with a "did you mean"; ACE's service collectors get a
// warning naming what replaces them; other ACE sections a warning.
func checkACESections(cf *collector.ConfigFile) {
	p := cf.Problems()
	for _, name := range cf.Untouched() {
		if strings.HasPrefix(name, "service_") && strings.HasSuffix(name, "_collector") {
			kind := strings.TrimSuffix(strings.TrimPrefix(name, "service_"), "_collector")
			p.Warn(name, "", "ACE's %s collector service is replaced by [collector_NAME] sections with type = KIND (`ace-collector kinds` lists the kinds)", kind)
			continue
		}
		if near := misspeltSection(name); near != "" {
			p.Add(name, "", "unknown section (did you mean [%s...]?)", near)
			continue
		}
		p.Warn(name, "", "section not used by ace-collector")
	}
	for _, name := range cf.INI().SectionStrings() {
		for _, k := range cf.INI().Section(name).KeyStrings() {
			if strings.HasSuffix(k, "_yara_rule_path") || k == "yara_rule_path" {
				p.Warn(name, k, "ace-collector does not scan with yara; drop submissions with [tuning_rule_NAME] sections and match mail with the email collector's rules")
			}
		}
	}
}

// misspeltSection returns the known prefix or section name that name looks
// like a misspelling of ("collectors_x" → "collector_"), or "".
func misspeltSection(name string) string {
	for _, pre := range ownPrefixes {
		if name+"_" == pre { // ACE's own [database], [node] sections
			continue
		}
		head := name
		if i := strings.LastIndexAny(name, "_-"); i >= 0 {
			head = name[:i+1]
		}
		if len(head) > 1 && head != pre && collector.Nearest(strings.ReplaceAll(head, "-", "_"), []string{pre}) != "" {
			return pre
		}
		// collection-group_x: the separator itself misspelt.
		if norm := strings.ReplaceAll(name, "-", "_"); norm != name && strings.HasPrefix(norm, pre) {
			return pre
		}
	}
	if near := collector.Nearest(name, append([]string(nil), ownSections...)); near != "" {
		return near
	}
	return ""
}

// FQDN resolves host to its fully qualified name as ACE's socket.getfqdn()
// does: the first name with a dot among the host's reverse lookups, else
// host itself.
func FQDN(host string) string {
	addrs, err := net.LookupHost(host)
	if err != nil {
		return host
	}
	var names []string
	for _, a := range addrs {
		if ns, err := net.LookupAddr(a); err == nil {
			names = append(names, ns...)
		}
	}
	for _, n := range append([]string{host}, names...) {
		n = strings.TrimSuffix(n, ".")
		if strings.Contains(n, ".") {
			return n
		}
	}
	return host
}
