package mailparse

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return b.String() + s + "\r\n"
}

func TestBase64Reader(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 4, 57, 1000, 10000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		enc := wrap76(base64.StdEncoding.EncodeToString(data))
		for name, src := range map[string]io.Reader{"whole": strings.NewReader(enc), "byte by byte": iotest.OneByteReader(strings.NewReader(enc))} {
			b := &base64Reader{src: src}
			if got := readAll(t, b); !bytes.Equal(got, data) || b.problems() != "" {
				t.Errorf("%d bytes, %s: decoded %d bytes, problems %q", n, name, len(got), b.problems())
			}
		}
	}
	for _, tt := range []struct{ in, want, problems string }{
		{"QUJD!!REVG", "ABCDEF", "base64: skipped 2 characters outside the alphabet"},
		{"QQ==QkM=", "ABC", ""}, // concatenated encodings
		{"QUJDR", "ABC", "base64: truncated input"},
		{"QUI", "AB", ""},
	} {
		b := &base64Reader{src: strings.NewReader(tt.in)}
		if got := string(readAll(t, b)); got != tt.want || b.problems() != tt.problems {
			t.Errorf("%q: got %q (%q), want %q (%q)", tt.in, got, b.problems(), tt.want, tt.problems)
		}
	}
}

func TestQPReader(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain line\r\nsecond=3D line\r\n", "plain line\r\nsecond= line\r\n"},
		{"soft=\r\nbreak and trailing space   \r\nend", "softbreak and trailing space\r\nend"},
		{"lf only=\nsoft\nhard\n", "lf onlysoft\nhard\n"},
		{"caf=C3=A9 =E2=82=AC\r\n", "café €\r\n"},
		// one line longer than the buffer: escapes cut at fragment ends
		// (mime/quotedprintable fails on it)
		{strings.Repeat("=41", 7000) + "\r\n", strings.Repeat("A", 7000) + "\r\n"},
	} {
		if tt.in[0] != '=' { // the same as the standard library where it copes
			if std := readAll(t, quotedprintable.NewReader(strings.NewReader(tt.in))); string(std) != tt.want {
				t.Fatalf("%q: standard library gives %q", tt.in, std)
			}
		}
		q := &qpReader{br: bufio.NewReaderSize(strings.NewReader(tt.in), lineBuf)}
		if got := string(readAll(t, q)); got != tt.want || q.problems() != "" {
			t.Errorf("%.40q: got %.60q (%q), want %.60q", tt.in, got, q.problems(), tt.want)
		}
	}
	q := &qpReader{br: bufio.NewReaderSize(strings.NewReader("a=ZZb=4"), lineBuf)}
	if got := string(readAll(t, q)); got != "a=ZZb=4" || !strings.Contains(q.problems(), "2 malformed") {
		t.Errorf("lenient: got %q (%q)", got, q.problems())
	}
}

func TestUTF8ReaderAcrossReads(t *testing.T) {
	for _, tt := range []struct{ in, charset, want string }{
		{"ü€漢 http://a.example/ü", "utf-8", "ü€漢 http://a.example/ü"},
		{"\x93quoted\x94 \x80", "", "“quoted” €"},
		{"Gr\xfc\xdfe", "iso-8859-1", "Grüße"},
		{"\x90\xbf\x8b\x81\x8f\x91", "shift_jis", "請求書"},
		{"ok \xff x \xfe", "x-unknown-charset", "ok \uFFFD x \uFFFD"},
	} {
		got := string(readAll(t, utf8Reader(iotest.OneByteReader(strings.NewReader(tt.in)), tt.charset)))
		if got != tt.want {
			t.Errorf("%q (%s): got %q, want %q", tt.in, tt.charset, got, tt.want)
		}
		// Read a byte at a time too (the tokenizer may ask for little).
		got = string(readAll(t, iotest.OneByteReader(utf8Reader(strings.NewReader(tt.in), tt.charset))))
		if got != tt.want {
			t.Errorf("%q (%s), small reads: got %q, want %q", tt.in, tt.charset, got, tt.want)
		}
	}
}

func TestDelimReader(t *testing.T) {
	for _, tt := range []struct{ in, content, rest string }{
		{"a\r\nb\r\n--x\r\nnext", "a\r\nb", "next"},
		{"a\n--x--\nepilogue", "a", "epilogue"},
		{"--x\r\nfirst", "", "first"},
		{"a\r\n--xy\r\n--x \t\r\nz", "a\r\n--xy", "z"}, // another boundary with x as prefix is content
		{"no delimiter\r\n", "no delimiter\r\n", ""},
		{strings.Repeat("y", 40000) + "\r\n--x\r\n", strings.Repeat("y", 40000), ""},
	} {
		br := bufio.NewReaderSize(iotest.HalfReader(strings.NewReader(tt.in)), 16)
		d := newDelimReader(br, "x")
		if got := string(readAll(t, d)); got != tt.content {
			t.Errorf("%.30q: content %.30q, want %.30q", tt.in, got, tt.content)
		}
		if rest := string(readAll(t, br)); rest != tt.rest {
			t.Errorf("%.30q: rest %q, want %q", tt.in, rest, tt.rest)
		}
	}
}

// bigMessage streams a multipart message of about size bytes: a text part
// with a URL, a base64 attachment of pseudo-random bytes, an HTML part. It
// returns the attachment's sha256 once the reader was read to its end.
func bigMessage(size int) (io.Reader, func() string) {
	pr, pw := io.Pipe()
	sum := sha256.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := bufio.NewWriter(pw)
		fmt.Fprint(w, "From: big@sender.example\r\nTo: alice@corp.example\r\nSubject: big\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=BIG\r\n\r\n--BIG\r\nContent-Type: text/plain\r\n\r\nhttp://big-text.example/a\r\n"+
			"--BIG\r\nContent-Type: application/octet-stream; name=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		rng := rand.New(rand.NewPCG(5, 6))
		var chunk [57]byte
		var line [78]byte
		for n := 0; n < size*3/4; n += len(chunk) {
			for i := range chunk {
				chunk[i] = byte(rng.Uint32())
			}
			sum.Write(chunk[:])
			base64.StdEncoding.Encode(line[:76], chunk[:])
			line[76], line[77] = '\r', '\n'
			w.Write(line[:])
		}
		fmt.Fprint(w, "--BIG\r\nContent-Type: text/html\r\n\r\n<a href=\"http://big-html.example/b\">x</a>\r\n--BIG--\r\n")
		pw.CloseWithError(w.Flush())
	}()
	return pr, func() string { <-done; return hex.EncodeToString(sum.Sum(nil)) }
}

// Parsing streams: a 16 MB message is read through bounded buffers, not
// held (the extraction used to allocate several times the message size).
func TestParseReaderStreams(t *testing.T) {
	const size = 16 << 20
	src, sum := bigMessage(size)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := ParseReader(src, size, Options{})
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB for a %d MiB message", alloc>>10, size>>20)
	if alloc > 2<<20 {
		t.Errorf("allocated %d bytes parsing a %d byte message: not streaming", alloc, size)
	}
	want := sum()
	if find(r, "sha256", want) == nil || find(r, "url", "http://big-text.example/a") == nil || find(r, "url", "http://big-html.example/b") == nil {
		t.Errorf("observables %v lack the attachment hash %s or a URL", r.Observables.List(), want)
	}
	if r.Details.ParseError != "" || len(r.Details.Warnings) != 0 {
		t.Errorf("parse error %q, warnings %q", r.Details.ParseError, r.Details.Warnings)
	}
}

// Nesting is bounded across multiparts and forwarded messages alike, so
// a deeply nested message cannot stack up buffers.
func TestDeepNestingBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@b.example\r\n")
	for i := range 200 {
		if i%2 == 0 {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		} else {
			b.WriteString("Content-Type: message/rfc822\r\n\r\nFrom: c@d.example\r\n")
		}
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nhttp://deepest.example/\r\n")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := Parse([]byte(b.String()), Options{MaxDepth: 50})
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("allocated %d bytes", alloc)
	}
	if !slices.ContainsFunc(r.Details.Warnings, func(w string) bool { return strings.Contains(w, "deeper than 50") }) {
		t.Errorf("nesting limit not reported: %q", r.Details.Warnings)
	}
	if find(r, "url", "http://deepest.example/") == nil {
		t.Error("the content below the limit was not scanned for URLs")
	}
}
