package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"os"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
)

// requestBody is a re-playable request body: Open returns a fresh reader
// for every attempt, Length is exact (so the request carries a
// Content-Length like python-requests does; mod_wsgi refuses chunked
// uploads by default).
type requestBody struct {
	contentType string
	length      int64
	segments    []segment
}

// segment is either literal bytes or the first size bytes of a file.
type segment struct {
	data []byte
	path string // file segment when non-empty
	name string // attachment name, for errors
	size int64
}

// newFormBody encodes the analysis JSON the way python-requests encodes
// ace_api's `data=` and `files=`: application/x-www-form-urlencoded when
// there are no files, otherwise multipart/form-data with the `analysis`
// field first and one `file` part per attachment (filename = destination
// name, no per-part Content-Type). File contents are not read here; they
// are streamed from disk by each attempt. Every file is opened and stat'ed
// up front so a missing or unreadable attachment is a LocalError before any
// network I/O.
func newFormBody(analysis []byte, files []collector.File) (*requestBody, error) {
	if len(files) == 0 {
		enc := []byte(url.Values{"analysis": {string(analysis)}}.Encode())
		return &requestBody{
			contentType: "application/x-www-form-urlencoded",
			length:      int64(len(enc)),
			segments:    []segment{{data: enc}},
		}, nil
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="analysis"`)
	pw, err := mw.CreatePart(h)
	if err != nil {
		return nil, localErrorf("building multipart body: %w", err)
	}
	if _, err := pw.Write(analysis); err != nil {
		return nil, localErrorf("building multipart body: %w", err)
	}
	b := &requestBody{contentType: mw.FormDataContentType()}
	for _, f := range files {
		size, err := statAttachment(f)
		if err != nil {
			return nil, err
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition",
			fmt.Sprintf(`form-data; name="file"; filename="%s"`, quoteEscaper.Replace(f.Name)))
		if _, err := mw.CreatePart(h); err != nil {
			return nil, localErrorf("building multipart body: %w", err)
		}
		b.segments = append(b.segments, segment{data: bytes.Clone(buf.Bytes())})
		buf.Reset()
		b.segments = append(b.segments, segment{path: f.Path, name: f.Name, size: size})
	}
	if err := mw.Close(); err != nil {
		return nil, localErrorf("building multipart body: %w", err)
	}
	b.segments = append(b.segments, segment{data: bytes.Clone(buf.Bytes())})
	for _, s := range b.segments {
		if s.path != "" {
			b.length += s.size
		} else {
			b.length += int64(len(s.data))
		}
	}
	return b, nil
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "%0D", "\n", "%0A")

func statAttachment(f collector.File) (int64, error) {
	if f.Path == "" {
		return 0, localErrorf("attachment %q has no path", f.Name)
	}
	if f.Name == "" {
		return 0, localErrorf("attachment %s has no name", f.Path)
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return 0, localErrorf("attachment %q: %w", f.Name, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return 0, localErrorf("attachment %q: %w", f.Name, err)
	}
	if !st.Mode().IsRegular() {
		return 0, localErrorf("attachment %q: %s is not a regular file", f.Name, f.Path)
	}
	return st.Size(), nil
}

// Open returns a new reader over the whole body. Files are opened lazily
// when the reader reaches them, so a body that is never read costs nothing.
func (b *requestBody) Open() (io.Reader, error) {
	return &bodyReader{segs: b.segments}, nil
}

// bodyReader streams the segments; it is an io.ReadCloser so the HTTP
// transport closes the current file when it is done or gives up.
type bodyReader struct {
	segs []segment
	cur  io.Reader
	file *os.File
	seg  segment
	left int64
}

func (r *bodyReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.segs) == 0 {
				return 0, io.EOF
			}
			if err := r.next(); err != nil {
				return 0, err
			}
		}
		n, err := r.cur.Read(p)
		if r.file != nil {
			r.left -= int64(n)
		}
		if err == io.EOF {
			if r.file != nil {
				if err := r.finishFile(); err != nil {
					return n, err
				}
			}
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (r *bodyReader) next() error {
	r.seg, r.segs = r.segs[0], r.segs[1:]
	if r.seg.path == "" {
		r.cur = bytes.NewReader(r.seg.data)
		return nil
	}
	fh, err := os.Open(r.seg.path)
	if err != nil {
		return &LocalError{Err: fmt.Errorf("attachment %q: %w", r.seg.name, err)}
	}
	r.file = fh
	r.left = r.seg.size
	r.cur = io.LimitReader(fh, r.seg.size)
	return nil
}

// finishFile checks the file still had exactly the size announced in the
// Content-Length: a file that shrank or grew mid-upload must fail the
// attempt, not be sent truncated.
func (r *bodyReader) finishFile() error {
	defer func() {
		r.file.Close()
		r.file = nil
	}()
	if r.left != 0 {
		return &LocalError{Err: fmt.Errorf("attachment %q: %s shrank by %d bytes during upload",
			r.seg.name, r.seg.path, r.left)}
	}
	var one [1]byte
	if n, err := r.file.Read(one[:]); n > 0 {
		return &LocalError{Err: fmt.Errorf("attachment %q: %s grew during upload", r.seg.name, r.seg.path)}
	} else if err != nil && !errors.Is(err, io.EOF) {
		return &LocalError{Err: fmt.Errorf("attachment %q: %w", r.seg.name, err)}
	}
	return nil
}

func (r *bodyReader) Close() error {
	if r.file != nil {
		err := r.file.Close()
		r.file = nil
		return err
	}
	return nil
}
