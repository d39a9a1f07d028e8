package groups

import (
	"context"
	"sync/atomic"
)

// staticSet is what a configuration reload may change while delivery
// runs: the [node_*] list and [node_translation].
type staticSet struct {
	nodes       StaticNodes
	translation Translation
}

// liveNodes is the node source of groups without an ACE node database: the
// current [node_*] list, replaced by SetNodes.
type liveNodes struct{ cur *atomic.Pointer[staticSet] }

func (l liveNodes) Nodes(context.Context) ([]Node, error) { return l.cur.Load().nodes, nil }

// SetNodes replaces the [node_*] list and the node translation (a
// configuration reload, SIGHUP). Deliveries in flight finish where they
// are; the next batch uses the new lists. Node health is kept per address.
func (m *Manager) SetNodes(nodes StaticNodes, tr Translation) {
	m.static.Store(&staticSet{nodes: nodes, translation: tr})
}

func (m *Manager) translation() Translation { return m.static.Load().translation }
