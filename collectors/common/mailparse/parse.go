// Package mailparse turns a raw RFC 5322 message into the observables an
// analyst would note (addresses, message id, subject, relaying hosts, URLs,
// attachment names and hashes) plus a JSON-ready summary for a submission's
// details. It never fails: a message that cannot be parsed still yields
// whatever could be extracted, with the reason in Details.ParseError.
//
// Both the email spool collector and the SMTP listener use it.
package mailparse

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/textproto"
	"strings"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"github.com/ace-collector/ace-collector/collector"
)

// Options tune extraction. The zero value is usable.
// OptionsFromConfig reads the extraction keys shared by the email
// collectors: include_private_ips, max_forward_depth, max_urls.
func OptionsFromConfig(sec *collector.Section) Options {
	return Options{
		IncludePrivateIPs: sec.Bool("include_private_ips", false),
		MaxDepth:          sec.Int("max_forward_depth", 5, 0, 50),
		MaxURLs:           sec.Int("max_urls", 1000, 1, 1000000),
	}
}

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
	// MaxParts bounds the MIME parts of a message (default 2000); a message
	// with more boundary lines is only header-parsed and URL-scanned, as the
	// MIME library's part tree costs quadratic time in the part count.
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

// Forwarded summarises a message/rfc822 part.
type Forwarded struct {
	Subject   string `json:"subject,omitempty"`
	From      string `json:"from,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	Date      string `json:"date,omitempty"`
	Depth     int    `json:"depth"`
}

// Details is the JSON summary of a message for a submission's details.
type Details struct {
	Subject     string       `json:"subject,omitempty"`
	From        []string     `json:"from,omitempty"`
	To          []string     `json:"to,omitempty"`
	Cc          []string     `json:"cc,omitempty"`
	ReplyTo     []string     `json:"reply_to,omitempty"`
	MessageID   string       `json:"message_id,omitempty"`
	Date        string       `json:"date,omitempty"`
	Size        int          `json:"size"`
	Attachments []Attachment `json:"attachments,omitempty"`
	Forwarded   []Forwarded  `json:"forwarded,omitempty"`
	URLsOmitted int          `json:"urls_omitted,omitempty"`
	Warnings    []string     `json:"parse_warnings,omitempty"`
	ParseError  string       `json:"parse_error,omitempty"`
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

	opt      Options
	urls     int
	warnings int
}

// Parse extracts observables and details from a raw message. It does not
// panic on any input; a failure is reported in Details.ParseError.
func Parse(raw []byte, opt Options) (res *Result) {
	res = &Result{opt: opt.withDefaults(), Header: textproto.MIMEHeader{}}
	res.Details.Size = len(raw)
	defer func() {
		if r := recover(); r != nil {
			res.Details.ParseError = fmt.Sprintf("internal parser failure: %v", r)
		}
	}()
	res.parseMessage(raw, 0)
	return res
}

// ParseHeaderOnly extracts what the header block at the start of prefix
// gives, for messages too large to parse whole; reason goes to ParseError.
func ParseHeaderOnly(prefix []byte, size int, reason string, opt Options) (res *Result) {
	res = &Result{opt: opt.withDefaults(), Header: textproto.MIMEHeader{}}
	res.Details.Size = size
	res.Details.ParseError = reason
	defer func() {
		if r := recover(); r != nil {
			res.Details.ParseError = fmt.Sprintf("%s; internal parser failure: %v", reason, r)
		}
	}()
	hdr, _ := splitHeader(prefix)
	res.addHeaders(looseHeader(hdr), 0)
	return res
}

var parser = enmime.NewParser(
	enmime.SkipMalformedParts(true),
	enmime.RawContent(true), // transfer/charset decoding is ours: hashes need the original bytes
	enmime.MultipartWOBoundaryAsSinglePart(true),
	enmime.MaxStoredPartErrors(50),
)

// parseMessage handles one message at the given forwarding depth.
func (r *Result) parseMessage(raw []byte, depth int) {
	var root *enmime.Part
	var err error
	if n := bytes.Count(raw, []byte("\n--")); n > r.opt.MaxParts {
		err = fmt.Errorf("%d boundary lines exceed the limit of %d MIME parts", n, r.opt.MaxParts)
	} else {
		root, err = parser.ReadParts(bytes.NewReader(raw))
	}
	if err != nil {
		// Salvage: headers by a loose reader, URLs from the raw body.
		hdr, body := splitHeader(raw)
		h := looseHeader(hdr)
		r.addHeaders(h, depth)
		r.scanText(string(body), false)
		msg := fmt.Sprintf("MIME structure not parseable: %v", err)
		if depth > 0 {
			r.warn("forwarded message: " + msg)
		} else {
			r.Details.ParseError = msg
		}
		return
	}
	if depth == 0 && len(root.Header) == 0 {
		r.Details.ParseError = "no header fields found: not an RFC 5322 message"
	}
	r.addHeaders(root.Header, depth)
	r.walk(root, depth)
	_ = root.DepthMatchAll(func(p *enmime.Part) bool {
		for _, e := range p.Errors {
			r.warn(e.Error())
		}
		return false
	})
}

// walk visits every leaf part of the tree.
func (r *Result) walk(root *enmime.Part, depth int) {
	_ = root.DepthMatchAll(func(p *enmime.Part) bool {
		if p.FirstChild != nil || strings.HasPrefix(p.ContentType, "multipart/") {
			return false
		}
		r.leaf(p, depth)
		return false
	})
}

func (r *Result) leaf(p *enmime.Part, depth int) {
	content, warn := transferDecode(p)
	if warn != "" {
		r.warn(fmt.Sprintf("part %s: %s", p.PartID, warn))
	}
	ct := strings.ToLower(p.ContentType)
	isText := ct == "" || ct == "text/plain" || ct == "text/html"
	isAttachment := strings.EqualFold(p.Disposition, "attachment") || p.FileName != "" || !isText
	if isText {
		text := toUTF8(content, p.Charset)
		r.scanText(text, ct == "text/html")
	}
	if !isAttachment {
		return
	}
	r.addAttachment(p.FileName, ct, content, depth)
	if ct == "message/rfc822" || ct == "message/global" {
		if depth+1 > r.opt.MaxDepth {
			r.warn(fmt.Sprintf("part %s: forwarded message nested deeper than %d levels not opened", p.PartID, r.opt.MaxDepth))
			return
		}
		r.parseMessage(content, depth+1)
	}
}

func (r *Result) addAttachment(name, ct string, content []byte, depth int) {
	name = toUTF8([]byte(name), "") // raw 8-bit names are usually windows-1252
	m := md5.Sum(content)
	s := sha256.Sum256(content)
	a := Attachment{
		Name: name, ContentType: ct, Size: len(content),
		MD5: hex.EncodeToString(m[:]), SHA256: hex.EncodeToString(s[:]), Depth: depth,
	}
	r.Details.Attachments = append(r.Details.Attachments, a)
	tags := []string{"attachment"}
	if depth > 0 {
		tags = append(tags, "forwarded")
	}
	r.Observables.AddValue(collector.ObsFileName, name, tags...)
	r.Observables.AddValue(collector.ObsMD5, a.MD5, tags...)
	r.Observables.AddValue(collector.ObsSHA256, a.SHA256, tags...)
}

func (r *Result) warn(msg string) {
	r.warnings++
	if len(r.Details.Warnings) < r.opt.MaxWarnings {
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		r.Details.Warnings = append(r.Details.Warnings, strings.ToValidUTF8(msg, "\uFFFD"))
	}
}

// splitHeader splits raw at the first empty line.
func splitHeader(raw []byte) (header, body []byte) {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return raw, nil
		}
		line := raw[i : i+j]
		if len(bytes.TrimRight(line, "\r")) == 0 {
			return raw[:i], raw[i+j+1:]
		}
		i += j + 1
	}
	return raw, nil
}

// looseHeader reads raw header fields without any MIME validation: folded
// lines are joined, lines without a colon are skipped.
func looseHeader(b []byte) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	var key string
	var val strings.Builder
	flush := func() {
		if key != "" {
			h.Add(key, strings.TrimSpace(val.String()))
		}
		key = ""
		val.Reset()
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if key != "" {
				val.WriteByte(' ')
				val.Write(bytes.TrimSpace(line))
			}
			continue
		}
		flush()
		i := bytes.IndexByte(line, ':')
		if i <= 0 || bytes.ContainsAny(line[:i], " \t") {
			continue
		}
		key = textproto.CanonicalMIMEHeaderKey(string(line[:i]))
		val.Write(line[i+1:])
	}
	flush()
	return h
}

func decodeHeader(in textproto.MIMEHeader) textproto.MIMEHeader {
	out := make(textproto.MIMEHeader, len(in))
	for k, vs := range in {
		for _, v := range vs {
			out[k] = append(out[k], toUTF8([]byte(enmime.DecodeRFC2047(v)), ""))
		}
	}
	return out
}
