package mailparse

import (
	"bytes"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/net/html"

	"github.com/ace-collector/ace-collector/collector"
)

// bareURL matches URLs written out in text.
var bareURL = regexp.MustCompile(`(?i)\b(?:https?|ftp)://[^\s<>"'\x60{}|\\^\x00-\x1f\x7f]+`)

// urlAttrs are HTML attributes that carry a link.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "action": true, "formaction": true, "background": true,
	"data": true, "poster": true, "cite": true, "longdesc": true,
}

// scanText adds url/fqdn observables for the links in a text or HTML body.
func (r *Result) scanText(text string, isHTML bool) {
	if !isHTML {
		r.scanBare(text)
		return
	}
	z := html.NewTokenizer(strings.NewReader(text))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return // io.EOF or a tokenizer error: take what was found
		case html.StartTagToken, html.SelfClosingTagToken:
			for {
				key, val, more := z.TagAttr()
				if urlAttrs[strings.ToLower(string(key))] {
					r.addURL(strings.TrimSpace(string(val)))
				}
				if !more {
					break
				}
			}
		case html.TextToken, html.CommentToken:
			if bytes.Contains(z.Raw(), []byte("//")) { // "://" may be entity-encoded
				r.scanBare(string(z.Text()))
			}
		}
	}
}

// scanBare adds the URLs written out in plain text.
func (r *Result) scanBare(text string) {
	if !strings.Contains(text, "://") {
		return
	}
	for _, m := range bareURL.FindAllString(text, -1) {
		r.addURL(m)
	}
}

// addURL records an absolute http(s)/ftp URL and its host.
func (r *Result) addURL(raw string) {
	raw = trimURL(strings.ToValidUTF8(raw, ""))
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ftp":
	default:
		return
	}
	if r.urls >= r.opt.MaxURLs {
		r.Details.URLsOmitted++
		return
	}
	before := r.Observables.Len()
	r.Observables.AddValue(collector.ObsURL, raw)
	if r.Observables.Len() > before {
		r.urls++
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		r.Observables.AddIP(ip, "url")
		return
	}
	if isHostname(host) {
		r.Observables.AddValue(collector.ObsFQDN, host)
	}
}

// trimURL drops punctuation that ends a sentence rather than the URL, and a
// closing bracket without its opening one. Linear in len(s).
func trimURL(s string) string {
	openP, closeP := strings.Count(s, "("), strings.Count(s, ")")
	openB, closeB := strings.Count(s, "["), strings.Count(s, "]")
	for len(s) > 0 {
		c := s[len(s)-1]
		switch {
		case strings.IndexByte(".,;:!?'\"*", c) >= 0:
		case c == ')' && openP < closeP:
			closeP--
		case c == ']' && openB < closeB:
			closeB--
		default:
			return s
		}
		s = s[:len(s)-1]
	}
	return s
}

func isHostname(h string) bool {
	if len(h) < 3 || len(h) > 253 || !strings.Contains(h, ".") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c > 0x7f) {
				return false
			}
		}
	}
	return true
}
