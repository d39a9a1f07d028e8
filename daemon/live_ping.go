package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ace-collector/ace-collector/groups"
)

// Ping checks every enabled group's nodes of the configuration in files
// (see groups.Ping), reading ACE node databases where groups name one.
func Ping(ctx context.Context, files []string, logTo io.Writer) (*groups.PingReport, error) {
	c, err := LoadValid(files)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srcs, err := groups.OpenNodeSources(c.Groups, c.Databases, log)
	if err != nil {
		return nil, err
	}
	defer srcs.Close()
	return groups.Ping(ctx, c.Groups, srcs.ByGroup), nil
}

// WritePingTable prints a ping report as one table: a row per node with
// each step's result, and the detail of its last step (the failure, or
// what the TLS handshake and API answered).
func WritePingTable(w io.Writer, rep *groups.PingReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tNODE\tLOCATION\tDNS\tTCP\tTLS\tPING\tAPI\tRESULT")
	for _, r := range rep.Rows {
		cells := map[string]string{}
		var detail, tlsDetail string
		for _, s := range r.Probe.Steps {
			cells[s.Name] = "ok"
			if !s.OK {
				cells[s.Name] = "FAIL"
				detail = s.Name + ": " + OneLine(s.Detail, 300)
			}
			if s.Name == "tls" && s.OK {
				tlsDetail = s.Detail
			}
		}
		if detail == "" {
			detail = "usable (" + tlsDetail + ")"
		}
		get := func(k string) string {
			if v := cells[k]; v != "" {
				return v
			}
			return "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Group, r.Node, r.Probe.Location,
			get("dns"), get("tcp"), get("tls"), get("ping"), get("api_version"), detail)
	}
	for g, e := range rep.Errors {
		fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\tnode source: %s\n", g, OneLine(e, 160))
	}
	tw.Flush()
	var bad []string
	for g, ok := range rep.Usable {
		if !ok {
			bad = append(bad, g)
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		fmt.Fprintf(w, "\nno usable node in group(s): %s\n", strings.Join(bad, ", "))
	} else {
		fmt.Fprintf(w, "\nevery group has a usable node (%d group(s))\n", len(rep.Usable))
	}
}
