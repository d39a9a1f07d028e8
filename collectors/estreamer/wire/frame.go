// Package wire implements the Cisco Firepower eStreamer wire protocol:
// message framing, the client requests, the extended-request negotiation,
// message bundles, and the decoding of the event and metadata records a
// collector needs. It does no I/O beyond io.Reader and io.Writer, keeps no
// state between messages and never panics on bad input: every malformed
// frame, record or block is reported with an error naming the problem.
//
// All integers are big-endian. Layouts follow /work/shared/reference/estreamer.md.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Message types (reference §2).
const (
	TypeNull                 uint16 = 0
	TypeError                uint16 = 1
	TypeEventStreamRequest   uint16 = 2
	TypeEventData            uint16 = 4
	TypeHostDataRequest      uint16 = 5
	TypeSingleHostData       uint16 = 6
	TypeMultipleHostData     uint16 = 7
	TypeStreamingRequest     uint16 = 2049
	TypeStreamingInformation uint16 = 2051
	TypeMessageBundle        uint16 = 4002
)

// HeaderVersion is the only header version the protocol defines.
const HeaderVersion uint16 = 1

// HeaderLen is the size of the common message header.
const HeaderLen = 8

// DefaultMaxMessage bounds a message body when the reader has no limit
// set. Real bundles were observed up to ~8.6 KB; 16 MiB leaves room for
// packet data while keeping a corrupt length from allocating gigabytes.
const DefaultMaxMessage = 16 << 20

// ErrMalformed is wrapped by every decoding error caused by bad input.
var ErrMalformed = errors.New("malformed eStreamer data")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// TypeName names a message type for logs.
func TypeName(t uint16) string {
	switch t {
	case TypeNull:
		return "Null"
	case TypeError:
		return "Error"
	case TypeEventStreamRequest:
		return "EventStreamRequest"
	case TypeEventData:
		return "EventData"
	case TypeHostDataRequest:
		return "HostDataRequest"
	case TypeSingleHostData:
		return "SingleHostData"
	case TypeMultipleHostData:
		return "MultipleHostData"
	case TypeStreamingRequest:
		return "StreamingRequest"
	case TypeStreamingInformation:
		return "StreamingInformation"
	case TypeMessageBundle:
		return "MessageBundle"
	}
	return fmt.Sprintf("type %d", t)
}

// Message is one framed message. Body excludes the 8-byte header.
type Message struct {
	Type uint16
	Body []byte
}

// Reader reads framed messages. The Body of a returned message is only
// valid until the next call to Next: the buffer is reused.
type Reader struct {
	r   io.Reader
	hdr [HeaderLen]byte
	buf []byte
	// Max is the largest accepted body; 0 means DefaultMaxMessage.
	Max uint32
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Next reads one message. A clean end of stream before a header returns
// io.EOF; a stream that ends inside a message returns io.ErrUnexpectedEOF;
// a message over the limit is skipped and reported as *OversizeError (the
// Reader stays usable); any other error leaves the stream out of step.
func (r *Reader) Next() (Message, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Message{}, err
	}
	version := binary.BigEndian.Uint16(r.hdr[0:])
	typ := binary.BigEndian.Uint16(r.hdr[2:])
	n := binary.BigEndian.Uint32(r.hdr[4:])
	if version != HeaderVersion {
		return Message{}, malformed("message header version %d (want 1; %s, length %d)", version, TypeName(typ), n)
	}
	limit := r.Max
	if limit == 0 {
		limit = DefaultMaxMessage
	}
	if n > limit {
		// Skip the body rather than fail: the header was sane (version
		// 1), so the stream stays in step, and a server that re-sends the
		// same message after a reconnect would otherwise stop it forever.
		if _, err := io.CopyN(io.Discard, r.r, int64(n)); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Message{}, fmt.Errorf("skipping %s body of %d bytes: %w", TypeName(typ), n, err)
		}
		return Message{Type: typ}, &OversizeError{Type: typ, Length: n, Limit: limit}
	}
	if uint32(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	body := r.buf[:n]
	if _, err := io.ReadFull(r.r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Message{}, fmt.Errorf("reading %s body of %d bytes: %w", TypeName(typ), n, err)
	}
	return Message{Type: typ, Body: body}, nil
}

// OversizeError reports a message longer than the Reader's limit. Its body
// has been read and thrown away, so the Reader is still in step: the next
// call to Next reads the following message. It wraps ErrMalformed.
type OversizeError struct {
	Type          uint16
	Length, Limit uint32
}

func (e *OversizeError) Error() string {
	return fmt.Sprintf("%s: %s message length %d exceeds the limit %d (skipped)", ErrMalformed, TypeName(e.Type), e.Length, e.Limit)
}

func (e *OversizeError) Unwrap() error { return ErrMalformed }

// AppendMessage appends a framed message to dst.
func AppendMessage(dst []byte, typ uint16, body []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, HeaderVersion)
	dst = binary.BigEndian.AppendUint16(dst, typ)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// WriteMessage writes one framed message in a single Write.
func WriteMessage(w io.Writer, typ uint16, body []byte) error {
	if _, err := w.Write(AppendMessage(make([]byte, 0, HeaderLen+len(body)), typ, body)); err != nil {
		return fmt.Errorf("writing %s message: %w", TypeName(typ), err)
	}
	return nil
}

// WriteNull writes a Null message (acknowledgement / keep-alive).
func WriteNull(w io.Writer) error { return WriteMessage(w, TypeNull, nil) }

// ErrorMessage is the body of a type-1 message.
type ErrorMessage struct {
	Code int32
	Text string
}

func (e *ErrorMessage) Error() string {
	return fmt.Sprintf("eStreamer error %d: %s", e.Code, e.Text)
}

// ParseError decodes an Error message body. The text length must match
// the body exactly; one trailing NUL is removed.
func ParseError(body []byte) (*ErrorMessage, error) {
	if len(body) < 6 {
		return nil, malformed("Error message body of %d bytes is shorter than 6", len(body))
	}
	code := int32(binary.BigEndian.Uint32(body))
	n := int(binary.BigEndian.Uint16(body[4:]))
	if 6+n != len(body) {
		return nil, malformed("Error message text length %d does not match body length %d (want %d)", n, len(body), 6+n)
	}
	return &ErrorMessage{Code: code, Text: trimNUL(body[6:])}, nil
}

// AppendError encodes an Error message body.
func AppendError(dst []byte, code int32, text string) []byte {
	if len(text) > 0xffff {
		text = text[:0xffff]
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(code))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(text)))
	return append(dst, text...)
}

// trimNUL returns b as a string without one trailing NUL byte.
func trimNUL(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == 0 {
		b = b[:n-1]
	}
	return string(b)
}
