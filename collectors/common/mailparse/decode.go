package mailparse

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// transferDecode undoes the part's Content-Transfer-Encoding leniently:
// what decodes is kept, and a problem is returned as a warning.
func transferDecode(p *enmime.Part) ([]byte, string) {
	cte := strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding")))
	switch cte {
	case "base64":
		return decodeBase64(p.Content)
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(p.Content)))
		if err != nil {
			return out, fmt.Sprintf("quoted-printable: %v (kept %d decoded bytes)", err, len(out))
		}
		return out, ""
	case "", "7bit", "8bit", "binary":
		return p.Content, ""
	default:
		return p.Content, fmt.Sprintf("unknown Content-Transfer-Encoding %q: content kept as is", cte)
	}
}

// decodeBase64 ignores characters outside the alphabet and decodes as much
// as possible, like mail clients do.
func decodeBase64(in []byte) ([]byte, string) {
	// Fast path: well-formed input (the decoder skips CR and LF itself).
	out := make([]byte, base64.StdEncoding.DecodedLen(len(in)))
	if n, err := base64.StdEncoding.Decode(out, bytes.TrimSpace(in)); err == nil {
		return out[:n], ""
	}
	clean := make([]byte, 0, len(in))
	bad := 0
	for _, c := range in {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '=' || c == '\r' || c == '\n' || c == ' ' || c == '\t':
		default:
			bad++
		}
	}
	warn := ""
	if bad > 0 {
		warn = fmt.Sprintf("base64: skipped %d characters outside the alphabet", bad)
	}
	if len(clean)%4 == 1 { // a lone trailing sextet carries no full byte
		clean = clean[:len(clean)-1]
		warn = strings.TrimPrefix(warn+"; base64: truncated input", "; ")
	}
	if need := base64.RawStdEncoding.DecodedLen(len(clean)); cap(out) >= need {
		out = out[:need]
	} else {
		out = make([]byte, need)
	}
	n, err := base64.RawStdEncoding.Decode(out, clean)
	if err != nil {
		warn = strings.TrimPrefix(warn+"; base64: "+err.Error(), "; ")
	}
	return out[:n], warn
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
