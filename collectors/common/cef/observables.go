package cef

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/netobs"
)

// keyMap maps CEF and LEEF standard extension keys to ACE observable types.
// Tags name the key so an analyst sees which side an address was on.
var keyMap = []struct {
	keys []string
	typ  string
	tag  string
}{
	{[]string{"src", "sourceTranslatedAddress", "srcPreNAT", "srcPostNAT"}, collector.ObsIPv4, "src"},
	{[]string{"dst", "destinationTranslatedAddress", "dstPreNAT", "dstPostNAT"}, collector.ObsIPv4, "dst"},
	{[]string{"dvc"}, collector.ObsIPv4, "device"},
	{[]string{"shost", "srcHostName"}, collector.ObsFQDN, "src"},
	{[]string{"dhost", "dstHostName"}, collector.ObsFQDN, "dst"},
	{[]string{"suser", "usrName", "srcUser"}, collector.ObsUser, "src"},
	{[]string{"duser", "dstUser"}, collector.ObsUser, "dst"},
	{[]string{"request", "url"}, collector.ObsURL, ""},
	{[]string{"fname", "oldFileName"}, collector.ObsFileName, ""},
	{[]string{"filePath", "oldFilePath"}, collector.ObsFilePath, ""},
	{[]string{"smac", "srcMAC"}, collector.ObsMAC, "src"},
	{[]string{"dmac", "dstMAC"}, collector.ObsMAC, "dst"},
}

// Observables adds the observables of ev's standard keys to set:
// addresses (ipv4, or ipv6 for an IPv6 value), host names, users, url,
// file names and paths, hashes, MAC addresses and, when addresses and
// ports of both sides are present, an ipv4_full_conversation
// "src_ip:src_port:dst_ip:dst_port". Addresses that name no host
// (0.0.0.0, ::, 255.255.255.255: what PAN-OS sends for "no NAT") are
// skipped. Hashes come from every key whose name says it holds one
// (fileHash, TrendMicroDsFileMD5, FileSHA256, ad.analyticscksum, see
// IsHashKey) and whose value is hex of an MD5, SHA-1 or SHA-256 length.
func Observables(ev *Event, set *collector.ObservableSet) {
	if ev == nil || ev.Ext == nil {
		return
	}
	for _, m := range keyMap {
		for _, k := range m.keys {
			if typ, v := observable(m.typ, strings.TrimSpace(ev.Ext[k])); typ != "" {
				if m.tag != "" {
					set.AddValue(typ, v, m.tag)
				} else {
					set.AddValue(typ, v)
				}
			}
		}
	}
	keys := make([]string, 0, len(ev.Ext))
	for k := range ev.Ext {
		if IsHashKey(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // a stable observable order
	for _, k := range keys {
		if v := HashValue(ev.Ext[k]); v != "" {
			set.AddValue(HashType(v), v)
		}
	}
	if c := Conversation(first(ev.Ext, "src", "srcPreNAT"), first(ev.Ext, "spt", "srcPort"),
		first(ev.Ext, "dst", "dstPreNAT"), first(ev.Ext, "dpt", "dstPort")); c != "" {
		set.AddValue(collector.ObsIPv4FullConversation, c)
	}
}

// observable maps one standard key's value to an observable type and
// value; typ is "" when the value is not one.
func observable(typ, v string) (string, string) {
	if v == "" {
		return "", ""
	}
	switch typ {
	case collector.ObsIPv4: // ipv4 or ipv6, by the address
		a, err := netip.ParseAddr(v)
		if err != nil || !netobs.IsHostAddress(a) {
			return "", ""
		}
		return collector.IPObservable(a)
	case collector.ObsFQDN: // a host field may hold an address
		if a, err := netip.ParseAddr(v); err == nil {
			if !netobs.IsHostAddress(a) {
				return "", ""
			}
			return collector.IPObservable(a)
		}
		if !strings.Contains(v, ".") {
			return collector.ObsHostname, v
		}
	case collector.ObsMAC:
		return typ, strings.ToLower(v)
	}
	return typ, v
}

// hashKeyWords are the parts of a key name that say it holds a file hash.
var hashKeyWords = []string{"md5", "sha1", "sha-1", "sha256", "sha-256", "hash", "checksum", "cksum"}

// IsHashKey reports whether an extension key's name says it holds a
// hash: the standard fileHash and oldFileHash, and vendor keys such as
// Trend Micro's TrendMicroDsFileMD5 / TrendMicroDsFileSHA256 or a
// csNLabel like "File SHA1" (case does not matter).
func IsHashKey(k string) bool {
	k = strings.ToLower(k)
	if strings.HasSuffix(k, "label") {
		return false // cs1Label=FileHash names the key, it holds no hash
	}
	for _, w := range hashKeyWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// HashValue returns v as a lower-case MD5, SHA-1 or SHA-256 hex digest
// (an "sha256:" style prefix removed), or "" when it is none of them or
// is all zeros (a placeholder some devices send for "no file").
func HashValue(v string) string {
	v = strings.TrimSpace(v)
	if algo, rest, ok := strings.Cut(v, ":"); ok && len(algo) <= 8 && HashType(rest) != "" {
		v = rest
	}
	if HashType(v) == "" || strings.Trim(v, "0") == "" {
		return ""
	}
	return strings.ToLower(v)
}

func first(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(m[k]); v != "" {
			return v
		}
	}
	return ""
}

// Conversation formats ACE's ipv4_full_conversation value
// "src_ip:src_port:dst_ip:dst_port", or "" unless both addresses are IPv4
// host addresses and both ports are numbers in 0..65535.
func Conversation(src, sport, dst, dport string) string {
	s, err1 := netip.ParseAddr(src)
	d, err2 := netip.ParseAddr(dst)
	if err1 != nil || err2 != nil || !s.Unmap().Is4() || !d.Unmap().Is4() || !isPort(sport) || !isPort(dport) ||
		!netobs.IsHostAddress(s) || !netobs.IsHostAddress(d) {
		return ""
	}
	return s.Unmap().String() + ":" + sport + ":" + d.Unmap().String() + ":" + dport
}

func isPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// HashType returns md5, sha1 or sha256 for a hex string of that length.
func HashType(v string) string {
	v = strings.TrimSpace(v)
	for i := 0; i < len(v); i++ {
		c := v[i] | 0x20
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	switch len(v) {
	case 32:
		return collector.ObsMD5
	case 40:
		return collector.ObsSHA1
	case 64:
		return collector.ObsSHA256
	}
	return ""
}
