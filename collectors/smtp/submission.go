package smtp

import (
	"net"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/mailparse"
	"github.com/ace-collector/ace-collector/collectors/common/mailrules"
)

// details is the submission's details JSON.
type details struct {
	mailparse.Details
	Envelope     *Envelope `json:"envelope"`
	MatchedRules []string  `json:"matched_rules,omitempty"`
}

func (s *session) submission(path string, res *mailparse.Result, env *Envelope, dec mailrules.Decision, received time.Time) (*collector.Submission, error) {
	cfg := &s.c.cfg
	label := res.Subject
	if label == "" {
		label = "message from " + env.MailFrom
		if env.MailFrom == "" {
			label = "message from <>"
		}
	}
	sub := collector.NewSubmission("SMTP Collector Detection - " + truncate(label, 200))
	sub.EventTime = received
	env.Received = received.UTC().Format(time.RFC3339Nano)

	var obs collector.ObservableSet
	obs.Add(collector.Observable{
		Type:  collector.ObsFile,
		Value: FileName,
		Directives: []string{collector.DirectiveNoScan, collector.DirectiveOriginalEmail,
			collector.DirectiveRenameAnalysis, collector.DirectiveArchive},
	})
	if ip, err := netip.ParseAddr(hostOf(env.ClientAddr)); err == nil && cfg.Parse.KeepIP(ip) {
		obs.AddIP(ip, "sender_ip") // private senders only with include_private_ips, as for Received
	}
	if a := normalize(env.MailFrom); a != "" {
		obs.AddValue(collector.ObsEmailAddress, a, "smtp_mail_from")
	}
	for _, r := range env.RcptTo {
		obs.AddValue(collector.ObsEmailAddress, normalize(r), "smtp_rcpt_to")
	}
	for _, o := range res.Observables.List() {
		obs.Add(o)
	}
	sub.Observables = obs.List()
	sub.Files = []collector.File{{Path: path, Name: FileName, DeleteSource: true}}
	sub.GroupAssignments = dec.Groups
	cfg.Fields.Apply(sub, s.env.Global)
	if err := sub.SetDetails(details{Details: res.Details, Envelope: env, MatchedRules: dec.Matched}); err != nil {
		return nil, err
	}
	return sub, nil
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func normalize(a string) string {
	if a == "" || a == "<>" {
		return ""
	}
	b := []byte(a)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
