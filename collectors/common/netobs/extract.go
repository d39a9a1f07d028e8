// Package netobs holds what the network-telemetry collectors (syslog, eve,
// pcap) share: observable extraction from free text and the event
// selection rules configured as rule_<name> keys.
package netobs

import (
	"net/netip"
	"regexp"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
)

var (
	reIPv4  = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)
	reURL   = regexp.MustCompile(`\b(?i:https?|ftp)://[^\s"'<>\x60]+`)
	reEmail = regexp.MustCompile(`\b[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}\b`)
	reFQDN  = regexp.MustCompile(`\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b`)
)

// MaxTextScan bounds how much of a message is scanned for observables.
const MaxTextScan = 64 << 10

// MaxTextObservables bounds how many observables one text yields.
const MaxTextObservables = 100

// notTLD lists file extensions and other dotted words that the FQDN regex
// would otherwise take for domain names.
var notTLD = map[string]bool{
	"exe": true, "dll": true, "sys": true, "txt": true, "log": true, "conf": true, "cfg": true,
	"ini": true, "json": true, "xml": true, "yml": true, "yaml": true, "service": true, "socket": true,
	"target": true, "timer": true, "mount": true, "py": true, "sh": true, "js": true, "php": true,
	"html": true, "htm": true, "asp": true, "aspx": true, "jsp": true, "gz": true, "zip": true,
	"tar": true, "tmp": true, "bak": true, "pdf": true, "doc": true, "docx": true, "xls": true,
	"xlsx": true, "png": true, "jpg": true, "gif": true, "so": true, "ps1": true, "bat": true,
	"vbs": true, "lnk": true, "pid": true, "lock": true, "db": true, "csv": true, "go": true,
}

// FromText adds IPv4 addresses (host addresses only, see IsHostAddress),
// URLs, email addresses and FQDNs found in text to set. Host names inside URLs and email addresses are added as
// fqdn too. Extraction stops after MaxTextObservables matches.
func FromText(text string, set *collector.ObservableSet) {
	if len(text) > MaxTextScan {
		text = text[:MaxTextScan]
	}
	n := 0
	add := func(typ, v string) {
		if n < MaxTextObservables {
			set.AddValue(typ, v)
			n++
		}
	}
	if !strings.Contains(text, ".") {
		return // no address, URL, email address or domain without a dot
	}
	var urls, emails []string
	if strings.Contains(text, "://") {
		urls = reURL.FindAllString(text, MaxTextObservables)
	}
	if strings.Contains(text, "@") {
		emails = reEmail.FindAllString(text, MaxTextObservables)
	}
	for _, u := range urls {
		u = strings.TrimRight(u, ".,;:)]}!?")
		add(collector.ObsURL, u)
	}
	for _, e := range emails {
		add(collector.ObsEmailAddress, strings.ToLower(e))
	}
	for _, ip := range reIPv4.FindAllString(text, MaxTextObservables) {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is4() && IsHostAddress(a) {
			add(collector.IPObservable(a))
		}
	}
	for _, d := range reFQDN.FindAllString(text, MaxTextObservables) {
		if IsFQDN(d) {
			add(collector.ObsFQDN, strings.ToLower(d))
		}
	}
}

// IsFQDN reports whether d looks like a domain name: dotted labels, an
// alphabetic last label that is not a common file extension, not an IPv4
// address.
func IsFQDN(d string) bool {
	d = strings.TrimSuffix(d, ".")
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	tld := strings.ToLower(d[strings.LastIndexByte(d, '.')+1:])
	if len(tld) < 2 || notTLD[tld] {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if tld[i] < 'a' || tld[i] > 'z' {
			return false
		}
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i] | 0x20
			if !(c >= 'a' && c <= 'z' || label[i] >= '0' && label[i] <= '9' || label[i] == '-' || label[i] == '_') {
				return false
			}
		}
	}
	return true
}

// broadcast4 is the IPv4 limited broadcast address.
var broadcast4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// IsHostAddress reports whether a can name a host and so be an
// observable: valid, not unspecified (0.0.0.0, ::, which devices log for
// "none", e.g. PAN-OS's NAT fields without NAT) and not the IPv4 limited
// broadcast address.
func IsHostAddress(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsUnspecified() && a != broadcast4
}
