package groups

import "github.com/ace-collector/ace-collector/persistence"

// DeliveryEvent is a change of one (submission, group) pair's delivery
// state, for live views: LOCKED with the node when a delivery starts, then
// the recorded outcome (COMPLETED, ERROR, or READY when it waits for a
// retry, with the error).
type DeliveryEvent struct {
	Group, UUID string
	State       string
	Node        string // the node delivered to (LOCKED only)
	Error       string
}

// emit tells Options.OnDelivery about ev, if anyone listens.
func (m *Manager) emit(ev DeliveryEvent) {
	if f := m.o.OnDelivery; f != nil {
		f(ev)
	}
}

// emitOutcomes reports the recorded results of items (results[i] is the
// outcome of items[i]).
func (g *group) emitOutcomes(items []persistence.Item, results []persistence.Result) {
	if g.m.o.OnDelivery == nil {
		return
	}
	for i, res := range results {
		if i >= len(items) {
			break
		}
		g.m.emit(DeliveryEvent{Group: g.cfg.Name, UUID: items[i].UUID, State: outcomeState(res.Outcome), Error: res.Error})
	}
}

// outcomeState is the queue state an outcome leaves the item in.
func outcomeState(o persistence.Outcome) string {
	switch o {
	case persistence.Completed:
		return "COMPLETED"
	case persistence.Failed, persistence.Park:
		return "ERROR"
	default:
		return "READY"
	}
}
