package collector

import (
	"net/netip"
	"time"
)

// ACE observable type names (saq/constants.py F_*). Collectors use these
// constants so a typo cannot silently produce an observable ACE drops.
const (
	ObsIPv4                 = "ipv4"
	ObsIPv6                 = "ipv6"
	ObsIPv4Conversation     = "ipv4_conversation"
	ObsIPv4FullConversation = "ipv4_full_conversation"
	ObsFQDN                 = "fqdn"
	ObsHostname             = "hostname"
	ObsURL                  = "url"
	ObsURI                  = "uri_path"
	ObsEmailAddress         = "email_address"
	ObsEmailConversation    = "email_conversation"
	ObsEmailSubject         = "email_subject"
	ObsEmailDelivery        = "email_delivery"
	ObsMessageID            = "message_id"
	ObsFile                 = "file"
	ObsFileName             = "file_name"
	ObsFilePath             = "file_path"
	ObsFileLocation         = "file_location"
	ObsMD5                  = "md5"
	ObsSHA1                 = "sha1"
	ObsSHA256               = "sha256"
	ObsUser                 = "user"
	ObsMAC                  = "mac_address"
	ObsSnortSignature       = "snort_sig"
	ObsCommandLine          = "command_line"
	ObsPCAP                 = "pcap"
	ObsTestObservable       = "test"
)

// IPObservableType is the ACE observable type of an address: ipv4 for an
// IPv4 address, an IPv4-mapped IPv6 address (::ffff:a.b.c.d, which is how
// dual-stack sockets report IPv4 peers) included; ipv6 for any other IPv6
// address; "" for the zero (invalid) Addr.
func IPObservableType(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return ""
	case a.Is4() || a.Is4In6():
		return ObsIPv4
	default:
		return ObsIPv6
	}
}

// IPObservable returns the observable type and value of an address: the
// value is the canonical text of the unmapped address without a zone
// (::ffff:10.0.0.1 -> "10.0.0.1", fe80::1%eth0 -> "fe80::1"), so the same
// host always gives the same observable. typ is "" for an invalid Addr.
func IPObservable(a netip.Addr) (typ, value string) {
	typ = IPObservableType(a)
	if typ == "" {
		return "", ""
	}
	return typ, a.Unmap().WithZone("").String()
}

// Common ACE directives used by collectors.
const (
	DirectiveNoScan         = "no_scan"
	DirectiveOriginalEmail  = "original_email"
	DirectiveOriginalSMTP   = "original_smtp"
	DirectiveArchive        = "archive"
	DirectiveExcludeAll     = "exclude_all"
	DirectiveRenameAnalysis = "rename_analysis"
	DirectiveExtractPCAP    = "extract_pcap"
)

// Observable is one observation in a submission, with ACE's JSON keys.
type Observable struct {
	Type            string    `json:"type"`
	Value           string    `json:"value"`
	Time            time.Time `json:"time,omitzero"`
	Tags            []string  `json:"tags,omitempty"`
	Directives      []string  `json:"directives,omitempty"`
	LimitedAnalysis []string  `json:"limited_analysis,omitempty"`
}

// ObservableSet collects observables in insertion order, dropping exact
// (type, value) duplicates and merging their tags and directives, so
// extraction code can add freely.
type ObservableSet struct {
	list  []Observable
	index map[[2]string]int
}

// Add adds an observable; empty values are ignored.
func (s *ObservableSet) Add(o Observable) {
	if o.Type == "" || o.Value == "" {
		return
	}
	if s.index == nil {
		s.index = make(map[[2]string]int)
	}
	k := [2]string{o.Type, o.Value}
	if i, ok := s.index[k]; ok {
		cur := &s.list[i]
		cur.Tags = mergeStrings(cur.Tags, o.Tags)
		cur.Directives = mergeStrings(cur.Directives, o.Directives)
		cur.LimitedAnalysis = mergeStrings(cur.LimitedAnalysis, o.LimitedAnalysis)
		if cur.Time.IsZero() {
			cur.Time = o.Time
		}
		return
	}
	s.index[k] = len(s.list)
	s.list = append(s.list, o)
}

// AddValue is Add for the common case of a type, a value and optional tags.
func (s *ObservableSet) AddValue(typ, value string, tags ...string) {
	s.Add(Observable{Type: typ, Value: value, Tags: tags})
}

// AddIP adds address a as an ipv4 or ipv6 observable (see IPObservable);
// an invalid Addr is ignored.
func (s *ObservableSet) AddIP(a netip.Addr, tags ...string) {
	if typ, v := IPObservable(a); typ != "" {
		s.Add(Observable{Type: typ, Value: v, Tags: tags})
	}
}

// AddIPString parses v as an IP address and adds it like AddIP; text that
// is not an address is ignored and reported false.
func (s *ObservableSet) AddIPString(v string, tags ...string) bool {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return false
	}
	s.AddIP(a, tags...)
	return true
}

// List returns the observables in the order they were first added.
func (s *ObservableSet) List() []Observable { return s.list }

// Len is the number of distinct observables.
func (s *ObservableSet) Len() int { return len(s.list) }

func mergeStrings(a, b []string) []string {
	for _, v := range b {
		found := false
		for _, x := range a {
			if x == v {
				found = true
				break
			}
		}
		if !found {
			a = append(a, v)
		}
	}
	return a
}
