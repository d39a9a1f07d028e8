package daemon

import (
	"context"
	"slices"
	"sort"
	"strings"
)

// liveSection: a section whose changes Reload applies at once.
func liveSection(name string) bool {
	return name == "node_translation" || strings.HasPrefix(name, "tuning_rule_") || strings.HasPrefix(name, "node_") ||
		strings.HasPrefix(name, "routing_rule_")
}

// Reload re-reads the configuration files (SIGHUP). A configuration with
// problems is refused and the running one kept. Otherwise the log level and
// the tuning rules take effect at once, and every other changed section is
// logged as needing a restart. Routing rules change the groups of
// submissions stored afterwards. The daemon never stops because of a reload.
func (d *Daemon) Reload(context.Context) bool {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, p, err := Load(d.cfg.Files, LoadOptions{})
	if err == nil {
		err = p.Err()
	}
	if err != nil {
		d.log.Error("reload refused: the configuration has problems; still running the previous one", "error", err)
		return false
	}
	applied := []string{}
	if cfg.Log.Level != d.level.Level() {
		d.level.Set(cfg.Log.Level)
		applied = append(applied, "log_level")
	}
	changed := changedSections(d.cfg.sections, cfg.sections)
	var restart []string
	tuning, nodes, routing := false, false, false
	for _, name := range changed {
		switch {
		case strings.HasPrefix(name, "tuning_rule_"):
			tuning = true
		case strings.HasPrefix(name, "routing_rule_"):
			routing = true
		case liveSection(name):
			nodes = true
		case name == "global" && onlyLogChanged(d.cfg.sections[name], cfg.sections[name]):
		default:
			restart = append(restart, name)
		}
	}
	if tuning {
		d.rt.SetTuning(cfg.Tuning)
		applied = append(applied, "tuning rules")
	}
	if routing {
		d.rt.SetRouting(cfg.Routing)
		applied = append(applied, "routing rules")
	}
	if nodes {
		d.mgr.SetNodes(cfg.Groups.Nodes, cfg.Groups.Translation)
		applied = append(applied, "node lists and translation")
	}
	d.log.Info("configuration reloaded", "applied", applied, "changed_sections", len(changed))
	if len(restart) > 0 {
		d.log.Warn("changed sections take effect only after a restart", "sections", restart)
	}
	return true
}

func changedSections(old, cur map[string]string) []string {
	var out []string
	for name, text := range cur {
		if old[name] != text {
			out = append(out, name)
		}
	}
	for name := range old {
		if _, ok := cur[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// onlyLogChanged reports whether two [global] texts differ only in log_level.
func onlyLogChanged(a, b string) bool {
	strip := func(s string) []string {
		return slices.DeleteFunc(strings.Split(s, "\n"), func(l string) bool { return strings.HasPrefix(l, "log_level=") })
	}
	return slices.Equal(strip(a), strip(b))
}
