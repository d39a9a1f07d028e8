package groups

import (
	"fmt"
	"strings"

	"github.com/ace-collector/ace-collector/api"
)

// checkLocation validates a configured node location with the parser the
// delivery client uses (api.ParseLocation), so that what validate accepts
// is deliverable and a credential in it is refused before it can reach a
// log line or a stored error.
func checkLocation(loc string) error {
	_, err := api.ParseLocation(loc)
	return err
}

// parseTranslation accepts ACE's two forms: "src_host:src_port,dst_host:dst_port"
// (the code) and "src_host:src_port,dst_host,dst_port" (the documentation).
// The target must be a location the client can deliver to.
func parseTranslation(v string) (string, string, error) {
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	var from, to string
	switch {
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		from, to = parts[0], parts[1]
	case len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != "":
		from, to = parts[0], parts[1]+":"+parts[2]
	default:
		return "", "", fmt.Errorf("%q: want src_host:src_port,dst_host:dst_port", api.Redact(v))
	}
	if err := checkLocation(to); err != nil {
		return "", "", fmt.Errorf("translation target: %w", err)
	}
	return from, to, nil
}

// nodeList is a group's nodes as one look at its source found them.
type nodeList struct {
	usable []Node
	// refused: nodes whose location cannot be delivered to, each as
	// "node NAME: why" (credentials already redacted).
	refused []string
}

// none says why a successfully read list has no usable node.
func (l nodeList) none(targets []string) string {
	msg := "no node available"
	if len(targets) > 0 {
		msg += " among target_nodes " + strings.Join(targets, ", ")
	}
	if len(l.refused) > 0 {
		msg += " (refused: " + strings.Join(l.refused, "; ") + ")"
	}
	return msg
}
