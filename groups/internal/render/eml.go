package render

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// EMLOptions are the envelope's addresses.
type EMLOptions struct {
	From string   // RFC 5322 From (an address, with or without a display name)
	To   []string // To addresses; none: no To header (a file drop)
	Now  func() time.Time
}

// EML is a submission as an RFC 5322 message: the description as
// subject, a text part summing it up, the details and observables as a
// JSON part, the files as attachments, and the original message as
// message/rfc822 when the submission came from email. Files are read when
// the message is written, not before.
type EML struct {
	sub      *collector.Submission
	o        EMLOptions
	original int  // index in sub.Files of the original email, -1 if none
	eightBit bool // the original carries 8-bit text
}

// maxLine is RFC 5322's limit on a line, without CRLF.
const maxLine = 998

// NewEML prepares sub's envelope. It reads the original email once to
// decide how it can be carried: as message/rfc822 when its lines are
// short enough for SMTP, otherwise as an octet-stream attachment.
func NewEML(sub *collector.Submission, o EMLOptions) (*EML, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &EML{sub: sub, o: o, original: originalEmail(sub)}
	if e.original >= 0 {
		f := sub.Files[e.original]
		fits, eight, err := scanMessage(f.Path)
		if err != nil {
			return nil, &FileError{Name: f.Name, Err: err}
		}
		if fits {
			e.eightBit = eight
		} else {
			e.original = -1 // attached as a plain file instead
		}
	}
	return e, nil
}

// EightBit reports whether the message has 8-bit text (SMTP: BODY=8BITMIME).
func (e *EML) EightBit() bool { return e.eightBit }

// originalEmail finds the file an email collector marked as the original
// message (a file observable with the original_email directive), or -1.
func originalEmail(sub *collector.Submission) int {
	for _, o := range sub.Observables {
		if o.Type != collector.ObsFile || !slices.Contains(o.Directives, collector.DirectiveOriginalEmail) {
			continue
		}
		for i, f := range sub.Files {
			if f.Name == o.Value {
				return i
			}
		}
	}
	return -1
}

// scanMessage reports whether every line of the file fits RFC 5322 (at
// most 998 bytes, no NUL) and whether any byte is 8-bit.
func scanMessage(p string) (fits, eightBit bool, err error) {
	f, err := os.Open(p)
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	line := 0
	for {
		c, err := r.ReadByte()
		if err == io.EOF {
			return true, eightBit, nil
		}
		if err != nil {
			return false, false, err
		}
		switch {
		case c == '\n':
			line = 0
			continue
		case c == 0:
			return false, eightBit, nil
		case c >= 0x80:
			eightBit = true
		}
		if c != '\r' {
			line++
		}
		if line > maxLine {
			return false, eightBit, nil
		}
	}
}

// WriteTo writes the message with CRLF line ends.
func (e *EML) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	err := e.write(cw)
	return cw.n, err
}

func (e *EML) write(w io.Writer) error {
	sub := e.sub
	boundary := randomBoundary()
	h := &headerWriter{w: w}
	if e.o.From != "" {
		h.field("From", e.o.From)
	}
	if len(e.o.To) > 0 {
		h.field("To", strings.Join(e.o.To, ", "))
	}
	h.field("Subject", encodeWord(sub.Description))
	date := sub.EventTime
	if date.IsZero() {
		date = e.o.Now()
	}
	h.field("Date", date.Format(time.RFC1123Z))
	h.field("Message-ID", "<"+sub.UUID+"@ace-collector>")
	h.field("X-ACE-Submission-UUID", sub.UUID)
	h.field("X-ACE-Tool", encodeWord(sub.Tool))
	h.field("X-ACE-Type", encodeWord(sub.Type))
	h.field("X-ACE-Analysis-Mode", encodeWord(sub.AnalysisMode))
	h.field("MIME-Version", "1.0")
	h.field("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	h.raw("\r\n")
	if h.err != nil {
		return h.err
	}
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	if err := e.summary(mw); err != nil {
		return err
	}
	if err := e.jsonPart(mw); err != nil {
		return err
	}
	for i, f := range sub.Files {
		var err error
		if i == e.original {
			err = e.messagePart(mw, f)
		} else {
			err = attachment(mw, f)
		}
		if err != nil {
			return err
		}
	}
	return mw.Close()
}

// summary is the text part: what the submission is, for a person reading it.
func (e *EML) summary(mw *multipart.Writer) error {
	sub := e.sub
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\r\n\r\n", sub.Description)
	fmt.Fprintf(&b, "uuid: %s\r\ntool: %s (%s)\r\ntype: %s\r\nanalysis mode: %s\r\n", sub.UUID, sub.Tool, sub.ToolInstance, sub.Type, sub.AnalysisMode)
	if !sub.EventTime.IsZero() {
		fmt.Fprintf(&b, "event time: %s\r\n", sub.EventTime.UTC().Format(time.RFC3339Nano))
	}
	if len(sub.Tags) > 0 {
		fmt.Fprintf(&b, "tags: %s\r\n", strings.Join(sub.Tags, ", "))
	}
	if len(sub.Observables) > 0 {
		b.WriteString("\r\nobservables:\r\n")
		for _, o := range sub.Observables {
			fmt.Fprintf(&b, "  %s %s\r\n", o.Type, OneLine(o.Value))
		}
	}
	qw := quotedprintable.NewWriter(pw)
	if _, err := io.WriteString(qw, b.String()); err != nil {
		return err
	}
	return qw.Close()
}

// jsonPart carries the submission document (details and observables).
func (e *EML) jsonPart(mw *multipart.Writer) error {
	doc, err := NewDocument(e.sub, false)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding submission %s: %w", e.sub.UUID, err)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", `application/json; charset=utf-8; name="submission.json"`)
	h.Set("Content-Disposition", `attachment; filename="submission.json"`)
	h.Set("Content-Transfer-Encoding", "base64")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	return writeBase64(pw, bytes.NewReader(b))
}

// messagePart attaches the original email as message/rfc822, its line
// ends made CRLF (RFC 2046 allows no transfer encoding but 7bit or 8bit).
func (e *EML) messagePart(mw *multipart.Writer, f collector.File) error {
	src, err := os.Open(f.Path)
	if err != nil {
		return &FileError{Name: f.Name, Err: err}
	}
	defer src.Close()
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(f.Name)}))
	if e.eightBit {
		h.Set("Content-Transfer-Encoding", "8bit")
	} else {
		h.Set("Content-Transfer-Encoding", "7bit")
	}
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	r := bufio.NewReaderSize(src, 64<<10)
	bw := bufio.NewWriterSize(pw, 64<<10)
	last := byte('\n')
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
				bw.Write(line)
				bw.WriteString("\r\n")
				last = '\n'
			} else {
				bw.Write(line)
				last = line[len(line)-1]
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return &FileError{Name: f.Name, Err: err}
		}
	}
	if last != '\n' {
		bw.WriteString("\r\n") // the boundary must start a line
	}
	return bw.Flush()
}

// attachment attaches a file, base64-encoded.
func attachment(mw *multipart.Writer, f collector.File) error {
	src, err := os.Open(f.Path)
	if err != nil {
		return &FileError{Name: f.Name, Err: err}
	}
	defer src.Close()
	name := path.Base(f.Name)
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := textproto.MIMEHeader{}
	if mt, params, err := mime.ParseMediaType(ctype); err == nil {
		params["name"] = name
		h.Set("Content-Type", mime.FormatMediaType(mt, params))
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Transfer-Encoding", "base64")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if err := writeBase64(pw, src); err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return we.err
		}
		return &FileError{Name: f.Name, Err: err}
	}
	return nil
}

// writeBase64 writes r base64-encoded in lines of 76 characters.
func writeBase64(w io.Writer, r io.Reader) error {
	buf := make([]byte, 57*1024) // a multiple of 57 bytes: 76 characters a line
	line := make([]byte, 0, 78*1024)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			line = line[:0]
			for i := 0; i < n; i += 57 {
				chunk := buf[i:min(i+57, n)]
				line = base64.StdEncoding.AppendEncode(line, chunk)
				line = append(line, '\r', '\n')
			}
			if _, werr := w.Write(line); werr != nil {
				return &writeError{werr}
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// writeError is a failure writing the message (the destination's), as
// opposed to reading a file.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// encodeWord returns s fit for a header: CR and LF removed (no header can
// be injected), non-ASCII as RFC 2047 encoded words.
func encodeWord(s string) string {
	s = strings.Join(strings.Fields(OneLine(s)), " ")
	return mime.QEncoding.Encode("utf-8", s)
}

type headerWriter struct {
	w   io.Writer
	err error
}

func (h *headerWriter) field(name, value string) {
	h.raw(name + ": " + OneLine(value) + "\r\n")
}

func (h *headerWriter) raw(s string) {
	if h.err == nil {
		_, h.err = io.WriteString(h.w, s)
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func randomBoundary() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return "ace-collector-" + hex.EncodeToString(b[:])
}
