package pcap

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/cef"
	"github.com/ace-collector/ace-collector/collectors/common/netobs"
)

// Details is the submission's details object.
type Details struct {
	File   string `json:"file"`
	Size   int64  `json:"size"`
	Format string `json:"format,omitempty"`
	*Summary
	FlowsOmitted int `json:"flows_omitted,omitempty"`
}

// build reads the capture at path and returns its submission.
func (c *Collector) build(g collector.Global, path, name string, fi os.FileInfo) (*collector.Submission, *Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("pcap: opening %s: %w", path, err)
	}
	defer f.Close()
	sum, format := Summarize(f, Options{MaxItems: c.cfg.MaxItems, MaxFlows: c.cfg.MaxFlows, FlowTimeout: c.cfg.FlowTimeout})
	safe, err := collector.SafeName(name)
	if err != nil {
		safe = "capture.pcap"
	}
	desc := fmt.Sprintf("PCAP %s: %d packets, %d flows", safe, sum.Packets, sum.FlowsTotal)
	if sum.Error != "" {
		desc += " (partial: " + truncate(sum.Error, 80) + ")"
	}
	sub := collector.NewSubmission(desc)
	c.cfg.Fields.Apply(sub, g)
	sub.EventTime = fi.ModTime().UTC()
	if !sum.First.IsZero() {
		sub.EventTime = sum.First
	}
	sub.Files = []collector.File{{Path: path, Name: safe, DeleteSource: true}}
	sub.Observables = c.observables(sum, safe)
	det := Details{File: safe, Size: fi.Size(), Format: format, Summary: sum, FlowsOmitted: sum.FlowsTotal - len(sum.Flows)}
	if err := sub.SetDetails(det); err != nil {
		return nil, nil, err
	}
	return sub, sum, nil
}

// observables lists the attached file (as file and pcap), addresses, a
// conversation per flow, DNS names, HTTP hosts and URLs, and TLS SNI,
// bounded by max_observables.
func (c *Collector) observables(sum *Summary, name string) []collector.Observable {
	var set collector.ObservableSet
	set.AddValue(collector.ObsFile, name)
	set.AddValue(collector.ObsPCAP, name)
	limit := c.cfg.MaxObservables
	add := func(typ, v string) {
		if set.Len() < limit {
			set.AddValue(typ, v)
		}
	}
	host := func(v string) {
		if netobs.IsFQDN(v) {
			add(collector.ObsFQDN, v)
		}
	}
	for _, fl := range sum.Flows {
		for _, a := range []netip.Addr{fl.client, fl.server} {
			if typ, v := collector.IPObservable(a); typ != "" {
				add(typ, v)
			}
		}
		if fl.Proto == 6 || fl.Proto == 17 {
			if conv := cef.Conversation(fl.Client, fmt.Sprint(fl.ClientPort), fl.Server, fmt.Sprint(fl.ServerPort)); conv != "" {
				add(collector.ObsIPv4FullConversation, conv)
			}
		}
	}
	for _, q := range sum.DNSQueries {
		host(q)
	}
	for _, r := range sum.HTTP {
		h := r.Host
		if i := lastColon(h); i > 0 {
			h = h[:i]
		}
		host(h)
		if r.URL != "" {
			add(collector.ObsURL, r.URL)
		}
	}
	for _, s := range sum.TLSSNI {
		host(s)
	}
	return set.List()
}

// lastColon finds a ":port" suffix of a Host header (not inside [v6]).
func lastColon(h string) int {
	for i := len(h) - 1; i >= 0; i-- {
		switch h[i] {
		case ':':
			return i
		case ']':
			return -1
		}
	}
	return -1
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
