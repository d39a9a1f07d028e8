package cef

import (
	"net/netip"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
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
// file names and paths, hashes (by length), MAC addresses and, when
// addresses and ports of both sides are present, an ipv4_full_conversation
// "src_ip:src_port:dst_ip:dst_port".
func Observables(ev *Event, set *collector.ObservableSet) {
	if ev == nil || ev.Ext == nil {
		return
	}
	for _, m := range keyMap {
		for _, k := range m.keys {
			v := strings.TrimSpace(ev.Ext[k])
			if v == "" {
				continue
			}
			typ := m.typ
			switch typ {
			case collector.ObsIPv4: // ipv4 or ipv6, by the address
				a, err := netip.ParseAddr(v)
				if err != nil {
					continue
				}
				typ, v = collector.IPObservable(a)
			case collector.ObsFQDN: // a host field may hold an address
				if a, err := netip.ParseAddr(v); err == nil {
					typ, v = collector.IPObservable(a)
				} else if !strings.Contains(v, ".") {
					typ = collector.ObsHostname
				}
			case collector.ObsMAC:
				v = strings.ToLower(v)
			}
			if m.tag != "" {
				set.AddValue(typ, v, m.tag)
			} else {
				set.AddValue(typ, v)
			}
		}
	}
	for _, k := range []string{"fileHash", "oldFileHash", "hash", "md5", "sha1", "sha256"} {
		if typ := HashType(ev.Ext[k]); typ != "" {
			set.AddValue(typ, strings.ToLower(strings.TrimSpace(ev.Ext[k])))
		}
	}
	if c := Conversation(first(ev.Ext, "src", "srcPreNAT"), first(ev.Ext, "spt", "srcPort"),
		first(ev.Ext, "dst", "dstPreNAT"), first(ev.Ext, "dpt", "dstPort")); c != "" {
		set.AddValue(collector.ObsIPv4FullConversation, c)
	}
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
// and both ports are numbers in 0..65535.
func Conversation(src, sport, dst, dport string) string {
	s, err1 := netip.ParseAddr(src)
	d, err2 := netip.ParseAddr(dst)
	if err1 != nil || err2 != nil || !s.Unmap().Is4() || !d.Unmap().Is4() || !isPort(sport) || !isPort(dport) {
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
