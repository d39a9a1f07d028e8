package mailparse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/textproto"
	"strconv"
	"strings"
)

// Buffer sizes: the whole message is read through topBuf; every multipart
// level adds a partBuf and every part a lineBuf, so memory is bounded by
// these times the nesting depth, not by the message size.
const (
	topBuf  = 64 << 10
	partBuf = 16 << 10
	lineBuf = 4 << 10
	// maxHeaderBytes bounds the header fields kept per entity; the rest
	// of an oversized header is read past.
	maxHeaderBytes = 1 << 20
	// maxNesting bounds multipart nesting; deeper content is treated as
	// an unparsed part (hashed and scanned for URLs).
	maxNesting = 50
)

// part is where an entity sits in the message.
type part struct {
	id        string // "1.2"; "" for a message's own body
	depth     int    // forwarding depth: 0 for the message, 1 inside a message/rfc822, ...
	nest      int    // multipart nesting
	defaultCT string // text/plain, or message/rfc822 inside multipart/digest
}

func (p part) child(i int, defaultCT string) part {
	id := strconv.Itoa(i)
	if p.id != "" {
		id = p.id + "." + id
	}
	return part{id: id, depth: p.depth, nest: p.nest + 1, defaultCT: defaultCT}
}

// message reads one message, header and body; at gives its forwarding
// depth and nesting.
func (r *Result) message(br *bufio.Reader, at part) {
	depth := at.depth
	h, body := r.readHeader(br, true)
	if len(h) == 0 {
		if depth == 0 {
			r.Details.ParseError = "no header fields found: not an RFC 5322 message"
		} else {
			r.warn("forwarded message: no header fields found")
		}
	}
	r.addHeaders(h, depth)
	r.entity(h, body, part{depth: depth, nest: at.nest, defaultCT: "text/plain"})
	_, _ = io.Copy(io.Discard, body)
}

// entity handles one MIME entity whose header was read; body is read to
// its end.
func (r *Result) entity(h textproto.MIMEHeader, body io.Reader, p part) {
	ct, params := r.contentType(h, p)
	if strings.HasPrefix(ct, "multipart/") {
		// Multiparts must not be transfer-encoded; some mailers do it
		// anyway, and clients decode them.
		dec, finish := transferDecoder(body, h.Get("Content-Transfer-Encoding"))
		r.multipart(dec, ct, params, p)
		if w := finish(); w != "" {
			r.warn(p.label() + ": " + w)
		}
		return
	}
	r.leaf(h, body, ct, params, p)
}

// contentType is the entity's media type (lower case) and parameters,
// read leniently: a malformed parameter list still gives the type and
// the parameters that can be read.
func (r *Result) contentType(h textproto.MIMEHeader, p part) (string, map[string]string) {
	v := strings.TrimSpace(h.Get("Content-Type"))
	if v == "" {
		return p.defaultCT, nil
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		mt, params = looseMediaType(v)
	}
	mt = strings.ToLower(mt)
	if i := strings.IndexByte(mt, '/'); i <= 0 || i == len(mt)-1 {
		r.warn(fmt.Sprintf("%s: Content-Type %s not understood: read as %s", p.label(), short(v), p.defaultCT))
		return p.defaultCT, params
	}
	return mt, params
}

// looseMediaType splits "type/sub; k=v; k2="v 2"" without validating it.
func looseMediaType(v string) (string, map[string]string) {
	fields := strings.Split(v, ";")
	params := map[string]string{}
	for _, f := range fields[1:] {
		k, val, ok := strings.Cut(f, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' && val[len(val)-1] == '"' || val[0] == '\'' && val[len(val)-1] == '\'') {
			val = val[1 : len(val)-1]
		}
		if _, dup := params[k]; !dup {
			params[k] = val
		}
	}
	return strings.TrimSpace(fields[0]), params
}

// short quotes a header value for a warning, shortened and cleaned.
func short(v string) string {
	if len(v) > 60 {
		v = v[:60] + "..."
	}
	return strconv.Quote(cleanText(v, 64))
}

// multipart reads a multipart body. A part whose boundary never occurs,
// or that has no boundary at all, is reported as unparsed (raw hash and
// URLs) rather than skipped.
func (r *Result) multipart(body io.Reader, ct string, params map[string]string, p part) {
	if p.nest >= maxNesting {
		r.unparsed(body, ct, p, fmt.Sprintf("multipart nested deeper than %d levels", maxNesting))
		return
	}
	boundary := params["boundary"]
	if boundary == "" {
		r.recoverMultipart(body, ct, p)
		return
	}
	// The preamble is hashed and scanned on the side: it is the part's
	// whole content if the boundary never occurs.
	raw := r.newRawPart()
	br := getReader(io.TeeReader(body, raw), partBuf)
	defer putReader(br)
	pre := newDelimReader(br, boundary)
	_, _ = io.Copy(raw.urls, pre)
	if !pre.found {
		raw.report(ct, p, fmt.Sprintf("boundary %s does not occur in the body", short(boundary)))
		return
	}
	raw.off = true
	raw.urls.Close() // the preamble's URLs do not count
	r.parts(br, boundary, pre.closing, ct, p)
	_, _ = io.Copy(io.Discard, br) // the epilogue
}

// recoverMultipart handles a multipart without a boundary parameter: the
// raw content is reported as unparsed, and if a line in it looks like a
// delimiter ("--" and a boundary) the parts after it are read with that
// boundary, as lenient mail clients display them.
func (r *Result) recoverMultipart(body io.Reader, ct string, p part) {
	raw := r.newRawPart()
	br := getReader(io.TeeReader(body, raw), partBuf)
	defer putReader(br)
	reason := "boundary parameter missing"
	if b, closing, ok := scanForDelimiter(br, raw.urls); ok {
		reason += fmt.Sprintf("; parts read with boundary %s found in the body", short(b))
		r.parts(br, b, closing, ct, p)
	}
	_, _ = io.Copy(io.Discard, br)
	raw.report(ct, p, reason)
}

// unparsed reports body as an unparsed part.
func (r *Result) unparsed(body io.Reader, ct string, p part, reason string) {
	raw := r.newRawPart()
	_, _ = io.Copy(raw.urls, io.TeeReader(body, raw))
	raw.report(ct, p, reason)
}

// parts reads the parts of a multipart from br, positioned after a
// delimiter line (closed: it was the closing one).
func (r *Result) parts(br *bufio.Reader, boundary string, closed bool, ct string, p part) {
	childCT := "text/plain"
	if ct == "multipart/digest" {
		childCT = "message/rfc822"
	}
	for i := 1; !closed; i++ {
		dr := newDelimReader(br, boundary)
		if r.countPart() {
			pbr := getReader(dr, lineBuf)
			h, body := r.readHeader(pbr, false)
			r.entity(h, body, p.child(i, childCT))
			_, _ = io.Copy(io.Discard, body)
			putReader(pbr)
		} else {
			w := r.newURLWriter(false)
			_, _ = io.Copy(w, dr)
			w.Close()
		}
		if !dr.found {
			r.warn(fmt.Sprintf("%s: multipart boundary %s not closed", p.label(), short(boundary)))
			return
		}
		closed = dr.closing
	}
}

// countPart counts a part against MaxParts and reports whether it may be
// opened.
func (r *Result) countPart() bool {
	r.partCount++
	if r.partCount <= r.opt.MaxParts {
		return true
	}
	if !r.partsOver {
		r.partsOver = true
		r.Details.ParseError = fmt.Sprintf("more than %d MIME parts: the rest are only scanned for URLs", r.opt.MaxParts)
	}
	return false
}

// delimReader reads a multipart body part: its content up to the next
// delimiter line ("--boundary", or "--boundary--" closing the multipart),
// without the line break before the delimiter, which belongs to it.
type delimReader struct {
	br        *bufio.Reader
	delim     []byte
	eol       []byte // the last line's break, withheld until the next line is known
	buf       []byte // content ready to be returned
	scratch   []byte
	lineStart bool
	found     bool // a delimiter line ended the part
	closing   bool // ... and it was the closing one
	eof       bool
}

func newDelimReader(br *bufio.Reader, boundary string) *delimReader {
	return &delimReader{br: br, delim: []byte("--" + boundary), lineStart: true}
}

func (d *delimReader) Read(p []byte) (int, error) {
	for len(d.buf) == 0 {
		if d.found || d.eof {
			return 0, io.EOF
		}
		d.fill()
	}
	n := copy(p, d.buf)
	d.buf = d.buf[n:]
	return n, nil
}

func (d *delimReader) fill() {
	frag, err := d.br.ReadSlice('\n')
	full := err == bufio.ErrBufferFull
	if d.lineStart && !full {
		if ok, closing := isDelimiter(frag, d.delim); ok {
			d.found, d.closing = true, closing
			return
		}
	}
	out := append(d.scratch[:0], d.eol...)
	d.eol = d.eol[:0]
	content := frag
	if n := len(frag); !full && n > 0 && frag[n-1] == '\n' {
		cut := n - 1
		if cut > 0 && frag[cut-1] == '\r' {
			cut--
		}
		d.eol = append(d.eol, frag[cut:]...)
		content = frag[:cut]
		d.lineStart = true
	} else {
		d.lineStart = false
	}
	out = append(out, content...)
	if err != nil && !full {
		// The input ended without a delimiter: the withheld line break
		// is content after all.
		out = append(out, d.eol...)
		d.eol = d.eol[:0]
		d.eof = true
	}
	d.scratch, d.buf = out, out
}

// isDelimiter reports whether line (with its line break, if any) is
// "--boundary" or "--boundary--", followed only by white space.
func isDelimiter(line, delim []byte) (ok, closing bool) {
	if !bytes.HasPrefix(line, delim) {
		return false, false
	}
	rest := line[len(delim):]
	if bytes.HasPrefix(rest, []byte("--")) {
		closing = true
		rest = rest[2:]
	}
	if len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return false, false
	}
	return true, closing
}

// scanForDelimiter reads br up to the first line that looks like a
// multipart delimiter and returns its boundary; the lines before it go to
// pre. A closing delimiter ("--b--") first means there are no parts.
func scanForDelimiter(br *bufio.Reader, pre io.Writer) (boundary string, closing, ok bool) {
	lineStart := true
	for {
		frag, err := br.ReadSlice('\n')
		full := err == bufio.ErrBufferFull
		if lineStart && !full {
			if b, isClosing, found := delimiterCandidate(frag); found {
				return b, isClosing, true
			}
		}
		_, _ = pre.Write(frag)
		lineStart = !full
		if err != nil && !full {
			return "", false, false
		}
	}
}

// delimiterCandidate recognises a line "--BOUNDARY" where BOUNDARY has the
// characters RFC 2046 allows and at least one letter or digit (so
// signature separators and rules of dashes do not count).
func delimiterCandidate(line []byte) (boundary string, closing, ok bool) {
	t := bytes.TrimRight(line, " \t\r\n")
	if len(t) < 3 || t[0] != '-' || t[1] != '-' {
		return "", false, false
	}
	b := t[2:]
	if len(b) > 2 && bytes.HasSuffix(b, []byte("--")) {
		b, closing = b[:len(b)-2], true
	}
	if len(b) == 0 || len(b) > 100 {
		return "", false, false
	}
	alnum := false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			alnum = true
		case strings.IndexByte("'()+_,-./:=? ", c) >= 0:
		default:
			return "", false, false
		}
	}
	return string(b), closing, alnum
}

// readHeader reads header fields up to the empty line that ends them
// (top: a leading mbox "From " line is skipped). A line that is neither a
// field nor a continuation ends the header too and starts the body, which
// the returned reader yields. Folded lines are joined with a space;
// fields beyond maxHeaderBytes are read past and not kept.
func (r *Result) readHeader(br *bufio.Reader, top bool) (textproto.MIMEHeader, io.Reader) {
	hr := headerReader{r: r, h: textproto.MIMEHeader{}}
	first, lineStart := true, true
	for {
		frag, err := br.ReadSlice('\n')
		full := err == bufio.ErrBufferFull
		if len(frag) == 0 && err != nil && !full {
			hr.flush()
			return hr.h, br
		}
		startsLine := lineStart
		lineStart = !full
		if !startsLine { // the rest of a long line
			hr.add(bytes.TrimRight(frag, "\r\n"))
			continue
		}
		line := bytes.TrimRight(frag, "\r\n")
		switch {
		case len(line) == 0 && !full:
			hr.flush()
			return hr.h, br
		case first && top && bytes.HasPrefix(line, []byte("From ")):
			// an mbox separator
		case (line[0] == ' ' || line[0] == '\t') && (hr.key != "" || len(hr.h) > 0):
			hr.add([]byte{' '})
			hr.add(bytes.TrimSpace(line))
		default:
			name, value, ok := fieldLine(line)
			if !ok {
				hr.flush()
				return hr.h, io.MultiReader(bytes.NewReader(bytes.Clone(frag)), br)
			}
			hr.start(name, value)
		}
		first = false
	}
}

// headerReader accumulates header fields within maxHeaderBytes.
type headerReader struct {
	r    *Result
	h    textproto.MIMEHeader
	key  string
	val  []byte
	kept int
	over bool
}

func (hr *headerReader) start(name string, value []byte) {
	hr.flush()
	if hr.over {
		return
	}
	hr.key = name
	hr.kept += len(name)
	hr.add(value)
}

// add appends b to the current field's value, within the byte budget.
func (hr *headerReader) add(b []byte) {
	if hr.key == "" || hr.over {
		return
	}
	if room := maxHeaderBytes - hr.kept; len(b) > room {
		b = b[:max(room, 0)]
		hr.over = true
		hr.r.warn(fmt.Sprintf("header larger than %d bytes: the rest of it is not read", maxHeaderBytes))
	}
	hr.val = append(hr.val, b...)
	hr.kept += len(b)
}

func (hr *headerReader) flush() {
	if hr.key != "" {
		hr.h.Add(hr.key, string(bytes.TrimSpace(hr.val)))
	}
	hr.key, hr.val = "", hr.val[:0]
}

// fieldLine splits "Name: value"; a name is printable ASCII without
// colon or space (white space before the colon is tolerated, as in RFC
// 822's obsolete syntax).
func fieldLine(line []byte) (string, []byte, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", nil, false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return "", nil, false
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f {
			return "", nil, false
		}
	}
	return textproto.CanonicalMIMEHeaderKey(string(name)), line[i+1:], true
}
