package mailparse

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/textproto"
	"strings"

	"github.com/jhillyerd/enmime/v2"

	"github.com/ace-collector/ace-collector/collector"
)

// leaf handles a non-multipart entity: text is scanned for URLs,
// attachments are hashed, forwarded messages are opened (and hashed).
// Everything is streamed: the content is never held whole.
func (r *Result) leaf(h textproto.MIMEHeader, body io.Reader, ct string, params map[string]string, p part) {
	cte := h.Get("Content-Transfer-Encoding")
	if strings.EqualFold(strings.TrimSpace(cte), "base64") {
		// Base64 has no ':', so a URL in the raw text is text hidden
		// where a decoder skips it (after a wrong boundary, say).
		hidden := r.newURLWriter(false)
		defer hidden.Close()
		body = io.TeeReader(body, hidden)
	}
	decoded, finish := transferDecoder(body, cte)
	disp, dparams := disposition(h)
	name := attachmentName(dparams["filename"], params["name"])
	isBody := ct == "text/plain" || ct == "text/html"
	isMessage := ct == "message/rfc822" || ct == "message/global"
	isAttachment := disp == "attachment" || name != "" || !isBody

	var sum *hasher
	var slot int
	src := decoded
	if isAttachment {
		// The slot keeps attachments in document order although a
		// forwarded message's own attachments are found before its hash
		// is known.
		slot = len(r.Details.Attachments)
		r.Details.Attachments = append(r.Details.Attachments, Attachment{})
		sum = newHasher()
		src = io.TeeReader(decoded, sum)
	}
	switch {
	case isMessage && p.depth+1 > r.opt.MaxDepth:
		r.warn(fmt.Sprintf("%s: forwarded message nested deeper than %d levels not opened", p.label(), r.opt.MaxDepth))
	case isMessage && p.nest >= maxNesting:
		r.warn(fmt.Sprintf("%s: forwarded message nested deeper than %d MIME levels: only scanned for URLs", p.label(), maxNesting))
		w := r.newURLWriter(false)
		_, _ = io.Copy(w, src)
		w.Close()
	case isMessage:
		br := getReader(src, partBuf)
		r.message(br, part{depth: p.depth + 1, nest: p.nest + 1})
		putReader(br)
	case strings.HasPrefix(ct, "text/"): // calendar invites, enriched text, ... carry links too
		r.scanText(src, ct == "text/html", params["charset"])
	}
	_, _ = io.Copy(io.Discard, src)
	if w := finish(); w != "" {
		r.warn(p.label() + ": " + w)
	}
	if isAttachment {
		r.setAttachment(slot, name, ct, sum, p.depth)
	}
}

// disposition is the Content-Disposition type (lower case) and
// parameters, read leniently.
func disposition(h textproto.MIMEHeader) (string, map[string]string) {
	v := strings.TrimSpace(h.Get("Content-Disposition"))
	if v == "" {
		return "", nil
	}
	d, params, err := mime.ParseMediaType(v)
	if err != nil {
		d, params = looseMediaType(v)
	}
	return strings.ToLower(d), params
}

// attachmentName is the file name from the disposition or, failing that,
// the content type, RFC 2047 decoded; raw 8-bit names are usually
// windows-1252.
func attachmentName(filename, name string) string {
	n := filename
	if n == "" {
		n = name
	}
	if n == "" {
		return ""
	}
	return cleanText(toUTF8([]byte(enmime.DecodeRFC2047(n)), ""), maxFieldLen)
}

func (r *Result) setAttachment(slot int, name, ct string, sum *hasher, depth int) {
	m, s := sum.sums()
	r.Details.Attachments[slot] = Attachment{
		Name: name, ContentType: ct, Size: int(sum.n), MD5: m, SHA256: s, Depth: depth,
	}
	tags := []string{"attachment"}
	if depth > 0 {
		tags = append(tags, "forwarded")
	}
	r.Observables.AddValue(collector.ObsFileName, name, tags...)
	r.Observables.AddValue(collector.ObsMD5, m, tags...)
	r.Observables.AddValue(collector.ObsSHA256, s, tags...)
}

// hasher computes md5 and sha256 of what is written to it.
type hasher struct {
	md5, sha256 hash.Hash
	n           int64
}

func newHasher() *hasher { return &hasher{md5: md5.New(), sha256: sha256.New()} }

func (h *hasher) Write(p []byte) (int, error) {
	h.md5.Write(p)
	h.sha256.Write(p)
	h.n += int64(len(p))
	return len(p), nil
}

func (h *hasher) sums() (md5hex, sha256hex string) {
	return hex.EncodeToString(h.md5.Sum(nil)), hex.EncodeToString(h.sha256.Sum(nil))
}

// rawPart hashes a part's raw content (what is written to it, until off)
// and collects the URLs in it (written to urls), for report.
type rawPart struct {
	*hasher
	r    *Result
	off  bool
	urls *urlWriter
}

func (r *Result) newRawPart() *rawPart {
	return &rawPart{hasher: newHasher(), r: r, urls: r.newURLWriter(true)}
}

func (p *rawPart) Write(b []byte) (int, error) {
	if p.off {
		return len(b), nil
	}
	return p.hasher.Write(b)
}

// report records the part as unparsed: hashes, URLs and a warning.
func (p *rawPart) report(ct string, at part, reason string) {
	r := p.r
	p.urls.Close()
	p.urls.commit()
	m, s := p.sums()
	r.Details.Unparsed = append(r.Details.Unparsed, UnparsedPart{
		Part: at.id, ContentType: ct, Reason: cleanText(reason, maxFieldLen),
		Size: int(p.n), MD5: m, SHA256: s, Depth: at.depth,
	})
	r.warn(fmt.Sprintf("%s: %s %s: raw content hashed and scanned for URLs", at.label(), ct, reason))
	tags := []string{"unparsed_part"}
	if at.depth > 0 {
		tags = append(tags, "forwarded")
	}
	r.Observables.AddValue(collector.ObsMD5, m, tags...)
	r.Observables.AddValue(collector.ObsSHA256, s, tags...)
}
