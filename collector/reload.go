package collector

// SetTuning replaces the tuning rules of every collector (a configuration
// reload), including collectors not started yet. Submissions already
// stored are not affected.
func (r *Runtime) SetTuning(rules []*TuningRule) {
	r.tuning.Store(&rules)
}

// tuningFor is the rule set a collector's sink applies now: the reloaded
// rules when there was a reload, else the ones it started with.
func (r *Runtime) tuningFor(name string, started *Tuning) *Tuning {
	if rules := r.tuning.Load(); rules != nil {
		return TuningFor(*rules, name)
	}
	return started
}
