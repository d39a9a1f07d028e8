package pcap

import (
	"bytes"
	"strconv"
	"strings"
)

var httpMethods = []string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE "}

// Bounds of what a request reader buffers: a request head (request line
// and headers) and one chunk-size or trailer line.
const (
	maxHTTPHead = 16 << 10
	maxHTTPLine = 4 << 10
)

// bodyFraming is how the body after a request head ends.
type bodyFraming struct {
	length  int64 // Content-Length; 0 when none
	chunked bool  // Transfer-Encoding: chunked
}

// parseHTTPRequest reads the request line, Host header and body framing
// of a request head (which may lack its end when it was cut).
func parseHTTPRequest(p []byte) (HTTPRequest, bodyFraming, bool) {
	var req HTTPRequest
	var body bodyFraming
	if !isRequestStart(p) {
		return req, body, false
	}
	line, rest, _ := bytes.Cut(p, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) != 3 || !strings.HasPrefix(fields[2], "HTTP/") {
		return req, body, false
	}
	req.Method, req.Path = fields[0], fields[1]
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\n"))
		h = bytes.TrimRight(h, "\r")
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		name, value := string(bytes.TrimSpace(k)), string(bytes.TrimSpace(v))
		switch {
		case strings.EqualFold(name, "host"):
			req.Host = strings.ToLower(value)
		case strings.EqualFold(name, "content-length"):
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				n = -1 // the end of this body cannot be found
			}
			body.length = n
		case strings.EqualFold(name, "transfer-encoding"):
			body.chunked = strings.Contains(strings.ToLower(value), "chunked")
		}
	}
	if !validToken(req.Host) || !validToken(req.Path) {
		return req, body, false
	}
	return req, body, true
}

// isRequestStart reports whether p begins with an HTTP method and a space.
func isRequestStart(p []byte) bool {
	for _, m := range httpMethods {
		if bytes.HasPrefix(p, []byte(m)) {
			return true
		}
	}
	return false
}

// mayBeRequestStart reports whether p, shorter than any method, could
// still become the start of a request.
func mayBeRequestStart(p []byte) bool {
	for _, m := range httpMethods {
		if len(p) < len(m) && strings.HasPrefix(m, string(p)) {
			return true
		}
	}
	return false
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return len(s) <= 8192
}

// What a request reader expects next.
const (
	httpHead      = iota // a request head
	httpBody             // remain body bytes
	httpChunkSize        // a chunk-size line
	httpChunkData        // remain chunk bytes, then the line end
	httpChunkEnd         // the line end after chunk data
	httpTrailer          // trailer lines up to an empty one
	httpLost             // out of step: look for a line that starts a request
)

// requestReader follows the client side of an HTTP/1.x connection as a
// byte stream: it parses each request head wherever segments cut it, and
// skips each body (Content-Length or chunked) to reach the next request.
// After a gap in the stream, or anything it cannot frame, it looks for
// the next request at a line start or at the start of the next bytes
// written: reassembly hands over each segment that arrives in order on
// its own, and a client writes a new request into a new segment, so that
// the request after a body whose end was lost is found. Bytes that are
// framed (heads, bodies, chunks) are read the same wherever the stream
// was cut.
type requestReader struct {
	state   int
	remain  int64
	buf     []byte // an incomplete head or line, or a possible method at the end of a lost line
	midLine bool   // lost inside a line
}

// write reads the next bytes of the stream, calling emit per request.
// p is not kept.
func (r *requestReader) write(p []byte, emit func(HTTPRequest)) {
	r.midLine = false // the start of a segment may start a request
	for len(p) > 0 {
		switch r.state {
		case httpLost:
			p = r.resync(p)
		case httpHead:
			p = r.head(p, emit)
		case httpBody, httpChunkData:
			n := min(int64(len(p)), r.remain)
			p, r.remain = p[n:], r.remain-n
			switch {
			case r.remain > 0:
			case r.state == httpBody:
				r.state = httpHead
			default:
				r.state = httpChunkEnd
			}
		default:
			var line []byte
			var ok bool
			if line, p, ok = r.line(p); ok {
				r.framingLine(line)
			}
		}
	}
}

// lost drops what was buffered and looks for the next request; midLine
// says whether the bytes that follow are inside a line.
func (r *requestReader) lost(midLine bool) {
	r.state, r.buf, r.midLine = httpLost, nil, midLine
}

// resync looks for a line that starts a request in the buffer and p, and
// returns the stream from there (nil when there is none yet).
func (r *requestReader) resync(p []byte) []byte {
	if len(r.buf) > 0 {
		p, r.buf = append(r.buf, p...), nil
	}
	if i := requestStart(p, r.midLine); i >= 0 {
		r.state = httpHead
		return p[i:]
	}
	// Keep a line start at the end that may still become a method.
	j := bytes.LastIndexByte(p, '\n') + 1
	if (j > 0 || !r.midLine) && mayBeRequestStart(p[j:]) {
		r.buf, r.midLine = append([]byte(nil), p[j:]...), false
		return nil
	}
	r.midLine = p[len(p)-1] != '\n'
	return nil
}

// requestStart returns the offset of the first line of p that starts
// with an HTTP method, or -1. p starts a line unless midLine.
func requestStart(p []byte, midLine bool) int {
	i := 0
	if midLine {
		j := bytes.IndexByte(p, '\n')
		if j < 0 {
			return -1
		}
		i = j + 1
	}
	for i < len(p) {
		if isRequestStart(p[i:]) {
			return i
		}
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
	}
	return -1
}

// head reads a request head from the buffer and p and returns what
// follows it. A head longer than maxHTTPHead is read as far as that.
func (r *requestReader) head(p []byte, emit func(HTTPRequest)) []byte {
	data, owned := p, false
	if len(r.buf) > 0 {
		data, r.buf, owned = append(r.buf, p...), nil, true
	}
	end := headEnd(data[:min(len(data), maxHTTPHead)])
	if end < 0 && len(data) <= maxHTTPHead {
		if !owned {
			data = append([]byte(nil), data...)
		}
		r.buf = data
		return nil
	}
	if end < 0 {
		if req, _, ok := parseHTTPRequest(data[:maxHTTPHead]); ok {
			emit(req)
		}
		r.lost(true)
		return data[maxHTTPHead:]
	}
	req, body, ok := parseHTTPRequest(data[:end])
	if !ok {
		r.lost(true)
		return data[1:] // look for a request after this false start
	}
	emit(req)
	switch {
	case body.chunked:
		r.state = httpChunkSize
	case body.length < 0:
		r.lost(false)
	case body.length > 0:
		r.state, r.remain = httpBody, body.length
	}
	return data[end:]
}

// headEnd returns the length of the request head at the start of p
// (through its empty line), or -1.
func headEnd(p []byte) int {
	crlf, lf := bytes.Index(p, []byte("\r\n\r\n")), bytes.Index(p, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return crlf + 4
	case lf >= 0:
		return lf + 2
	}
	return -1
}

// line returns the next complete line (without its end) from the buffer
// and p, and what follows it in p.
func (r *requestReader) line(p []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		r.buf = append(r.buf, p...)
		if len(r.buf) > maxHTTPLine {
			r.lost(true)
		}
		return nil, nil, false
	}
	line, rest = p[:i], p[i+1:]
	if len(r.buf) > 0 {
		line, r.buf = append(r.buf, line...), nil
	}
	if len(line) > maxHTTPLine {
		r.lost(false)
		return nil, rest, false
	}
	return bytes.TrimSuffix(line, []byte("\r")), rest, true
}

// framingLine handles a chunk-size, chunk-end or trailer line.
func (r *requestReader) framingLine(line []byte) {
	switch r.state {
	case httpChunkEnd:
		r.state = httpChunkSize
	case httpTrailer:
		if len(line) == 0 {
			r.state = httpHead
		}
	case httpChunkSize:
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		switch {
		case err != nil || n < 0:
			r.lost(false)
		case n == 0:
			r.state = httpTrailer
		default:
			r.state, r.remain = httpChunkData, n
		}
	}
}
