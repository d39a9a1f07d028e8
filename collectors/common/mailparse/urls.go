package mailparse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

// Chunking of streamed text for the URL pattern: text is scanned in
// chunks of about urlChunk bytes cut after a character that cannot be in
// a URL, so no URL is split unless it is longer than maxURLCarry.
const (
	urlChunk    = 32 << 10
	maxURLCarry = 8 << 10
	// maxHTMLToken bounds the tokenizer's buffer: a longer tag or text
	// run ends HTML tokenizing and the rest is scanned as plain text.
	maxHTMLToken = 1 << 20
)

// scanText adds url/fqdn observables for the links in a text or HTML body
// read from src (transfer-decoded, in charset).
func (r *Result) scanText(src io.Reader, isHTML bool, charset string) {
	text := utf8Reader(src, charset)
	if isHTML {
		r.scanHTML(text)
		return
	}
	w := r.newURLWriter(false)
	_, _ = io.Copy(w, text)
	w.Close()
}

// scanHTML takes links from attributes, and bare URLs from text and
// comments (where "://" may have been entity-encoded).
func (r *Result) scanHTML(text io.Reader) {
	z := html.NewTokenizer(text)
	z.SetMaxBuf(maxHTMLToken)
	for {
		switch z.Next() {
		case html.ErrorToken:
			if errors.Is(z.Err(), html.ErrBufferExceeded) {
				r.warn(fmt.Sprintf("HTML token longer than %d bytes: the rest of the part is scanned as plain text", maxHTMLToken))
				w := r.newURLWriter(false)
				_, _ = w.Write(z.Raw())
				_, _ = w.Write(z.Buffered())
				_, _ = io.Copy(w, text)
				w.Close()
			}
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
			if bytes.Contains(z.Raw(), []byte("//")) {
				r.scanBare(z.Text())
			}
		}
	}
}

// urlWriter scans what is written to it for bare URLs, chunk by chunk.
// A collecting writer keeps the URLs aside until commit (for content
// that turns out to matter only later).
type urlWriter struct {
	r       *Result
	buf     []byte
	collect bool
	pending []string
	extra   int // URLs beyond MaxURLs while collecting
}

func (r *Result) newURLWriter(collect bool) *urlWriter {
	return &urlWriter{r: r, collect: collect}
}

func (w *urlWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.buf == nil && n > 0 {
		w.buf = (*chunkPool.Get().(*[]byte))[:0]
	}
	for len(p) > 0 {
		k := min(len(p), urlChunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) >= urlChunk {
			w.flush(false)
		}
	}
	return n, nil
}

// ReadFrom scans r to its end, reading straight into the chunk buffer.
func (w *urlWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if w.buf == nil {
			w.buf = (*chunkPool.Get().(*[]byte))[:0]
		}
		n, err := r.Read(w.buf[len(w.buf):urlChunk])
		w.buf = w.buf[:len(w.buf)+n]
		total += int64(n)
		if len(w.buf) >= urlChunk {
			w.flush(false)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close scans what is left and gives the buffer back.
func (w *urlWriter) Close() {
	if w.buf == nil {
		return
	}
	w.flush(true)
	b := w.buf[:0]
	chunkPool.Put(&b)
	w.buf = nil
}

func (w *urlWriter) flush(final bool) {
	cut := len(w.buf)
	if !final {
		if i := bytes.LastIndexAny(w.buf, " \t\r\n<>\"'"); i >= 0 && len(w.buf)-i-1 <= maxURLCarry {
			cut = i + 1
		}
	}
	w.scan(w.buf[:cut])
	w.buf = w.buf[:copy(w.buf, w.buf[cut:])]
}

func (w *urlWriter) scan(b []byte) {
	if !w.collect {
		w.r.scanBare(b)
		return
	}
	if !bytes.Contains(b, []byte("://")) {
		return
	}
	for _, m := range bareURL.FindAll(b, -1) {
		if len(w.pending) < w.r.opt.MaxURLs {
			w.pending = append(w.pending, string(m))
		} else {
			w.extra++
		}
	}
}

// commit adds the collected URLs.
func (w *urlWriter) commit() {
	for _, u := range w.pending {
		w.r.addURL(u)
	}
	w.r.Details.URLsOmitted += w.extra
	w.pending, w.extra = nil, 0
}

// scanBare adds the URLs written out in plain text.
func (r *Result) scanBare(text []byte) {
	if !bytes.Contains(text, []byte("://")) {
		return
	}
	for _, m := range bareURL.FindAll(text, -1) {
		r.addURL(string(m))
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
