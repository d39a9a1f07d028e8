package groups

import (
	"context"
	"slices"
)

// Node is a target a group can deliver to: an ACE node, or the fixed
// target of a type without nodes (a syslog server, a directory, ...).
type Node struct {
	Name     string
	Location string   // host:port, or http://host:port for plain HTTP
	AnyMode  bool     // accepts every analysis mode not excluded
	Modes    []string // modes accepted when not AnyMode
	Excluded []string // modes never accepted
	// Workload is the node's current work queue length as its source
	// reports it (ACE's COUNT(workload)); 0 for static nodes.
	Workload int
	// Weight is the node's share of deliveries among nodes that accept
	// the same submissions ([node_NAME] weight; 0 counts as 1).
	Weight int
}

// weight is n's weight for selection (at least 1).
func (n Node) weight() int { return max(n.Weight, 1) }

// Accepts reports whether the node takes submissions of mode. Exclusions
// are evaluated per node, not per joined row (ACE bug §10.14).
func (n Node) Accepts(mode string) bool {
	if slices.Contains(n.Excluded, mode) {
		return false
	}
	return n.AnyMode || slices.Contains(n.Modes, mode)
}

// NodeSource lists the nodes currently available to a group. Sources that
// query a database cache their answer briefly; callers may call it per batch.
type NodeSource interface {
	Nodes(ctx context.Context) ([]Node, error)
}

// StaticNodes is a fixed node list from [node_NAME] INI sections.
type StaticNodes []Node

// Nodes returns the list.
func (s StaticNodes) Nodes(context.Context) ([]Node, error) { return s, nil }
