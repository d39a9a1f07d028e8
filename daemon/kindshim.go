package daemon

import "github.com/ace-collector/ace-collector/collector"

// TODO(merge h-kinds): remove; use collector.Lookup / collector.Kinds.
type kindT struct {
	Name, Summary string
	Sample        []byte
	New           collector.Factory
}

func lookupKind(name string) (kindT, bool) {
	f, ok := collector.Lookup(name)
	return kindT{Name: name, New: f}, ok
}

func allKinds() []kindT {
	var out []kindT
	for _, k := range collector.Kinds() {
		out = append(out, kindT{Name: k})
	}
	return out
}
