package collector

// SetTuning replaces the tuning rules of every running collector (a
// configuration reload). Submissions already stored are not affected.
func (r *Runtime) SetTuning(rules []*TuningRule) {
	m := map[string]*Tuning{}
	for name := range r.collectorNames() {
		m[name] = TuningFor(rules, name)
	}
	r.tuning.Store(&m)
}

// tuningFor is the rule set a collector's sink applies now: the reloaded
// one when there was a reload, else the one it started with.
func (r *Runtime) tuningFor(name string, started *Tuning) *Tuning {
	if m := r.tuning.Load(); m != nil {
		if t, ok := (*m)[name]; ok {
			return t
		}
	}
	return started
}

func (r *Runtime) collectorNames() map[string]bool {
	r.health.mu.Lock()
	defer r.health.mu.Unlock()
	out := map[string]bool{}
	for name := range r.health.m {
		out[name] = true
	}
	return out
}
