// Package mailparse turns a raw RFC 5322 message into the observables an
// analyst would note (addresses, message id, subject, relaying hosts, URLs,
// attachment names and hashes) plus a JSON-ready summary for a submission's
// details. It never fails: a message that cannot be parsed still yields
// whatever could be extracted, with the reason in Details.ParseError.
//
// The message is read once, as a stream (ParseReader): memory stays bounded
// by a few buffers per MIME level whatever the message size, so a 30 MB
// message costs no more than a 30 KB one. A multipart part whose boundary
// is missing or never occurs is not skipped: its raw content is hashed and
// scanned for URLs (mail clients render such parts; filters that skip them
// are evaded).
//
// Both the email spool collector and the SMTP listener use it.
package mailparse

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ace-collector/ace-collector/collector"
)

// OptionsFromConfig reads the extraction keys shared by the email
// collectors: include_private_ips, max_forward_depth, max_urls.
func OptionsFromConfig(sec *collector.Section) Options {
	return Options{
		IncludePrivateIPs: sec.Bool("include_private_ips", false),
		MaxDepth:          sec.Int("max_forward_depth", 5, 0, 50),
		MaxURLs:           sec.Int("max_urls", 1000, 1, 1000000),
	}
}

// Options tune extraction. The zero value is usable.
type Options struct {
	// IncludePrivateIPs keeps private, loopback and link-local addresses
	// found in Received headers (excluded by default).
	IncludePrivateIPs bool
	// MaxDepth bounds how deep forwarded message/rfc822 parts are opened
	// (default 5).
	MaxDepth int
	// MaxURLs bounds the url observables per message (default 1000); the
	// number left out is reported in Details.URLsOmitted.
	MaxURLs int
	// MaxWarnings bounds Details.Warnings (default 20).
	MaxWarnings int
	// MaxParts bounds the MIME parts of a message that are opened
	// (default 2000); later parts are only scanned for URLs, so details
	// stay bounded.
	MaxParts int
}

func (o Options) withDefaults() Options {
	if o.MaxDepth <= 0 {
		o.MaxDepth = 5
	}
	if o.MaxURLs <= 0 {
		o.MaxURLs = 1000
	}
	if o.MaxWarnings <= 0 {
		o.MaxWarnings = 20
	}
	if o.MaxParts <= 0 {
		o.MaxParts = 2000
	}
	return o
}

// KeepIP reports whether an address belongs in the observables: public
// addresses always, private, loopback and link-local ones only with
// IncludePrivateIPs.
func (o Options) KeepIP(ip netip.Addr) bool {
	return o.IncludePrivateIPs || isPublic(ip.Unmap())
}

// Attachment describes one attached (or inline non-text) part.
type Attachment struct {
	Name        string `json:"name,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Size        int    `json:"size"`
	MD5         string `json:"md5"`
	SHA256      string `json:"sha256"`
	// Depth is 0 for the message itself, 1 inside a forwarded message, ...
	Depth int `json:"depth,omitempty"`
}

// UnparsedPart describes a part whose MIME structure could not be
// followed (a multipart without a usable boundary): its raw content was
// hashed and scanned for URLs instead.
type UnparsedPart struct {
	// Part is the part's position ("1.2"); empty for a message body.
	Part        string `json:"part,omitempty"`
	ContentType string `json:"content_type"`
	Reason      string `json:"reason"`
	Size        int    `json:"size"`
	MD5         string `json:"md5"`
	SHA256      string `json:"sha256"`
	Depth       int    `json:"depth,omitempty"`
}

// Forwarded summarises a message/rfc822 part.
type Forwarded struct {
	Subject   string `json:"subject,omitempty"`
	From      string `json:"from,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	Date      string `json:"date,omitempty"`
	Depth     int    `json:"depth"`
}

// Details is the JSON summary of a message for a submission's details.
// Every string in it is valid UTF-8 without control characters and of
// bounded length, whatever the input.
type Details struct {
	Subject     string         `json:"subject,omitempty"`
	From        []string       `json:"from,omitempty"`
	To          []string       `json:"to,omitempty"`
	Cc          []string       `json:"cc,omitempty"`
	ReplyTo     []string       `json:"reply_to,omitempty"`
	MessageID   string         `json:"message_id,omitempty"`
	Date        string         `json:"date,omitempty"`
	Size        int            `json:"size"`
	Attachments []Attachment   `json:"attachments,omitempty"`
	Unparsed    []UnparsedPart `json:"unparsed_parts,omitempty"`
	Forwarded   []Forwarded    `json:"forwarded,omitempty"`
	URLsOmitted int            `json:"urls_omitted,omitempty"`
	Warnings    []string       `json:"parse_warnings,omitempty"`
	ParseError  string         `json:"parse_error,omitempty"`
}

// Result is what Parse extracted.
type Result struct {
	Observables collector.ObservableSet
	Details     Details
	// Header holds the top-level header fields, RFC 2047 decoded, keyed
	// by canonical MIME name (for routing rules).
	Header textproto.MIMEHeader
	// Date is the Date header if it was present and valid, else zero.
	Date time.Time
	// Subject is the decoded Subject header.
	Subject string

	opt       Options
	urls      int
	warnings  int
	partCount int
	partsOver bool
}

func newResult(opt Options, size int64) *Result {
	r := &Result{opt: opt.withDefaults(), Header: textproto.MIMEHeader{}}
	r.Details.Size = int(size)
	return r
}

// Parse extracts observables and details from a raw message in memory.
// It does not panic on any input; a failure is reported in
// Details.ParseError.
func Parse(raw []byte, opt Options) *Result {
	return ParseReader(bytes.NewReader(raw), int64(len(raw)), opt)
}

// ParseReader is Parse for a message read from src, which is read once to
// its end and never held in memory. size is the message's length, for
// Details.Size. A read error ends the parse; it is reported in
// Details.ParseError with what was extracted until then.
func ParseReader(src io.Reader, size int64, opt Options) (res *Result) {
	res = newResult(opt, size)
	defer func() {
		if r := recover(); r != nil {
			res.Details.ParseError = cleanText(fmt.Sprintf("internal parser failure: %v", r), maxErrorLen)
		}
	}()
	res.parseTop(src)
	return res
}

// ParseHeaderOnly extracts what the header block at the start of prefix
// gives, for messages too large to parse whole; reason goes to ParseError.
func ParseHeaderOnly(prefix []byte, size int, reason string, opt Options) (res *Result) {
	res = newResult(opt, int64(size))
	res.Details.ParseError = cleanText(reason, maxErrorLen)
	defer func() {
		if r := recover(); r != nil {
			res.Details.ParseError = cleanText(fmt.Sprintf("%s; internal parser failure: %v", reason, r), maxErrorLen)
		}
	}()
	br := getReader(bytes.NewReader(prefix), lineBuf)
	defer putReader(br)
	h, _ := res.readHeader(br, true)
	res.addHeaders(h, 0)
	return res
}

// parseTop parses a whole message from src (without Parse's panic guard,
// so fuzzing sees panics).
func (r *Result) parseTop(src io.Reader) {
	er := &errReader{r: src}
	br := getReader(er, topBuf)
	r.message(br, part{})
	putReader(br)
	if er.err != nil {
		r.Details.ParseError = cleanText(fmt.Sprintf("reading the message failed after %d bytes: %v", er.n, er.err), maxErrorLen)
	}
}

// errReader turns a read error into the end of input, remembering it: the
// parser then reports what it extracted up to there.
type errReader struct {
	r   io.Reader
	n   int64
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	e.n += int64(n)
	if err != nil && err != io.EOF {
		e.err = err
		err = io.EOF
	}
	return n, err
}

// Bounds on what goes into details, so a hostile or binary message cannot
// blow up a submission or a log line.
const (
	maxSubjectLen = 1000 // runes
	maxFieldLen   = 500  // runes: dates, names, message ids
	maxWarningLen = 300  // bytes
	maxErrorLen   = 500  // bytes
)

func (r *Result) warn(msg string) {
	r.warnings++
	if len(r.Details.Warnings) < r.opt.MaxWarnings {
		r.Details.Warnings = append(r.Details.Warnings, cleanText(msg, maxWarningLen))
	}
}

// cleanText makes s fit for details and logs: valid UTF-8, control
// characters (but tab) replaced by U+FFFD, at most max runes (an ellipsis
// marks a cut).
func cleanText(s string, max int) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean && len(s) <= max {
		return s
	}
	var b strings.Builder
	n := 0
	for _, c := range strings.ToValidUTF8(s, "\uFFFD") {
		if n == max {
			b.WriteString("…")
			break
		}
		if c < 0x20 && c != '\t' || c == 0x7f || c >= 0x80 && c < 0xa0 {
			c = utf8.RuneError
		}
		b.WriteRune(c)
		n++
	}
	return b.String()
}

// label names a part in warnings.
func (p part) label() string {
	if p.id == "" {
		if p.depth > 0 {
			return "forwarded message body"
		}
		return "message body"
	}
	return "part " + p.id
}
