package mailparse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/transform"
)

// transferDecoder undoes a Content-Transfer-Encoding leniently, as a
// stream: what decodes is kept. finish, called once dec was read to its
// end (and not read after), describes what did not decode ("" if
// nothing).
func transferDecoder(body io.Reader, cte string) (dec io.Reader, finish func() string) {
	switch cte = strings.ToLower(strings.TrimSpace(cte)); cte {
	case "base64":
		b := &base64Reader{src: body}
		return b, b.problems
	case "quoted-printable":
		q := &qpReader{br: getReader(body, lineBuf)}
		return q, func() string {
			putReader(q.br)
			q.br = nil
			return q.problems()
		}
	case "", "7bit", "8bit", "binary":
		return body, func() string { return "" }
	default:
		return body, func() string {
			return fmt.Sprintf("unknown Content-Transfer-Encoding %s: content kept as is", short(cte))
		}
	}
}

// base64Reader decodes base64, ignoring characters outside the alphabet
// and decoding as much as possible, like mail clients do. Padding ends a
// quantum, so concatenated encodings decode too.
type base64Reader struct {
	src       io.Reader
	in        [4096]byte
	out       []byte
	outBuf    [3*4096/4 + 3]byte
	quad      [4]byte
	nq        int
	bad       int
	truncated bool
	err       error
}

var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		n, err := b.src.Read(b.in[:])
		b.out = b.outBuf[:0]
		b.decode(b.in[:n])
		if err != nil {
			b.flush()
			b.err = err
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

func (b *base64Reader) decode(in []byte) {
	for _, c := range in {
		v := b64[c]
		switch {
		case v != 0xff:
			b.quad[b.nq] = v
			b.nq++
			if b.nq == 4 {
				b.out = append(b.out, b.quad[0]<<2|b.quad[1]>>4, b.quad[1]<<4|b.quad[2]>>2, b.quad[2]<<6|b.quad[3])
				b.nq = 0
			}
		case c == '=':
			b.flush()
		case c == '\r' || c == '\n' || c == ' ' || c == '\t':
		default:
			b.bad++
		}
	}
}

// flush decodes a partial quantum (at padding or the end of input).
func (b *base64Reader) flush() {
	switch b.nq {
	case 1: // a lone sextet carries no full byte
		b.truncated = true
	case 2:
		b.out = append(b.out, b.quad[0]<<2|b.quad[1]>>4)
	case 3:
		b.out = append(b.out, b.quad[0]<<2|b.quad[1]>>4, b.quad[1]<<4|b.quad[2]>>2)
	}
	b.nq = 0
}

func (b *base64Reader) problems() string {
	var p []string
	if b.bad > 0 {
		p = append(p, fmt.Sprintf("base64: skipped %d characters outside the alphabet", b.bad))
	}
	if b.truncated {
		p = append(p, "base64: truncated input")
	}
	return strings.Join(p, "; ")
}

// qpReader decodes quoted-printable leniently: an "=" not followed by two
// hex digits is kept literally (and counted), line breaks are kept as
// they are, trailing white space is dropped (RFC 2045 6.7).
type qpReader struct {
	br     *bufio.Reader
	line   []byte
	out    []byte
	outBuf []byte
	carry  []byte // an escape cut by the end of a long-line fragment
	bad    int
	err    error
}

func (q *qpReader) Read(p []byte) (int, error) {
	for len(q.out) == 0 {
		if q.err != nil {
			return 0, q.err
		}
		q.fill()
	}
	n := copy(p, q.out)
	q.out = q.out[n:]
	return n, nil
}

func (q *qpReader) fill() {
	frag, err := q.br.ReadSlice('\n')
	full := err == bufio.ErrBufferFull
	if err != nil && !full {
		q.err = err
	}
	line := append(append(q.line[:0], q.carry...), frag...)
	q.carry = q.carry[:0]
	var eol []byte
	switch {
	case full:
		// Keep an escape that straddles the fragment end for the next one.
		if i := lastIndexByte(line, '='); i >= 0 && len(line)-i < 3 {
			q.carry = append(q.carry, line[i:]...)
			line = line[:i]
		}
	default:
		n := len(line)
		if n > 0 && line[n-1] == '\n' {
			n--
			if n > 0 && line[n-1] == '\r' {
				n--
			}
		}
		eol = line[n:]
		line = trimQPSpace(line[:n])
		if len(line) > 0 && line[len(line)-1] == '=' { // soft line break
			line, eol = line[:len(line)-1], nil
		}
	}
	q.outBuf = append(q.decodeLine(q.outBuf[:0], line), eol...)
	q.out = q.outBuf
	q.line = line[:0]
}

func (q *qpReader) decodeLine(dst, line []byte) []byte {
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '=' {
			if i+2 < len(line) && isHex(line[i+1]) && isHex(line[i+2]) {
				dst = append(dst, unhex(line[i+1])<<4|unhex(line[i+2]))
				i += 2
				continue
			}
			q.bad++
		}
		dst = append(dst, c)
	}
	return dst
}

func trimQPSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func (q *qpReader) problems() string {
	if q.bad == 0 {
		return ""
	}
	return fmt.Sprintf("quoted-printable: %d malformed escapes kept as they are", q.bad)
}

// utf8Reader converts text in the named charset to UTF-8 as a stream.
// Without a usable charset, valid UTF-8 is kept and anything else is read
// as windows-1252, the usual mislabelled legacy encoding; an unknown
// charset gives its bytes with invalid sequences replaced.
func utf8Reader(src io.Reader, charset string) io.Reader {
	cs := strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"'`))
	switch cs {
	case "", "us-ascii", "ascii", "utf-8", "utf8":
		return &utf8Fixer{src: src, legacy: charmap.Windows1252}
	}
	if enc := lookupCharset(cs); enc != nil {
		return &softErrReader{r: transform.NewReader(src, enc.NewDecoder())}
	}
	return &utf8Fixer{src: src}
}

// softErrReader ends the stream at a decoding error instead of failing.
type softErrReader struct{ r io.Reader }

func (s *softErrReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = io.EOF
	}
	return n, err
}

// utf8Fixer passes valid UTF-8 through (in the caller's buffer, without
// copying) and converts reads that are not (from legacy, or by replacing
// invalid sequences when legacy is nil).
type utf8Fixer struct {
	src    io.Reader
	legacy encoding.Encoding
	carry  [utf8.UTFMax]byte // an incomplete rune cut by the end of a read
	held   int
	out    []byte // converted text not yet returned
	err    error
}

func (u *utf8Fixer) Read(p []byte) (int, error) {
	for {
		if len(u.out) > 0 {
			n := copy(p, u.out)
			u.out = u.out[n:]
			return n, nil
		}
		if u.err != nil {
			return 0, u.err
		}
		if len(p) < 2*utf8.UTFMax {
			// Too small to work in: convert through out.
			var tmp [64]byte
			n := u.fill(tmp[:])
			u.out = u.convert(tmp[:n])
			continue
		}
		n := u.fill(p)
		if utf8.Valid(p[:n]) {
			if n == 0 {
				continue
			}
			return n, nil
		}
		u.out = u.convert(p[:n])
	}
}

// fill reads into b, after the carried bytes, and returns how many bytes
// of b hold whole runes (an incomplete one at the end is carried over,
// unless the input ended).
func (u *utf8Fixer) fill(b []byte) int {
	k := copy(b, u.carry[:u.held])
	n, err := u.src.Read(b[k:])
	n += k
	u.held = 0
	if err != nil {
		u.err = err
		return n
	}
	cut := runeBoundary(b[:n])
	u.held = copy(u.carry[:], b[cut:n])
	return cut
}

// convert returns b as valid UTF-8 in a new slice (copy: b may be the
// caller's buffer, overwritten by the next read).
func (u *utf8Fixer) convert(b []byte) []byte {
	if utf8.Valid(b) {
		return bytes.Clone(b)
	}
	if u.legacy != nil {
		if out, err := u.legacy.NewDecoder().Bytes(b); err == nil {
			return out
		}
	}
	return []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
}

// runeBoundary is the length of b without an incomplete UTF-8 sequence at
// its end.
func runeBoundary(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		c := b[i]
		if c < 0x80 {
			return len(b)
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			return len(b)
		}
	}
	return len(b)
}

// toUTF8 converts text in the named charset to valid UTF-8. Without a
// usable charset, valid UTF-8 is kept and anything else is read as
// windows-1252, the usual mislabelled legacy encoding.
func toUTF8(b []byte, charset string) string {
	cs := strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"'`))
	switch cs {
	case "", "us-ascii", "ascii", "utf-8", "utf8":
		if utf8.Valid(b) {
			return string(b)
		}
		return decodeWith(charmap.Windows1252, b)
	}
	if enc := lookupCharset(cs); enc != nil {
		return decodeWith(enc, b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func lookupCharset(name string) encoding.Encoding {
	if enc, err := htmlindex.Get(name); err == nil && enc != nil {
		return enc
	}
	if enc, err := ianaindex.MIME.Encoding(name); err == nil && enc != nil {
		return enc
	}
	return nil
}

func decodeWith(enc encoding.Encoding, b []byte) string {
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}
