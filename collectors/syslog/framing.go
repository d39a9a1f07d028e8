package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errOversize reports a frame longer than the configured maximum. The
// frame was skipped; the stream is still in sync and reading may go on.
var errOversize = errors.New("syslog frame exceeds max_message_size")

// frameReader splits a syslog TCP stream into messages, per RFC 6587:
// octet counting ("LEN SP MSG", chosen when a frame starts with a digit)
// or non-transparent framing (messages end with LF; a trailing CR and NUL
// are dropped). The method is detected per frame, as rsyslog does.
type frameReader struct {
	r   *bufio.Reader
	max int
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, max+16), max: max}
}

// Next returns the next message. The slice is valid until the next call.
// errOversize is recoverable; io.EOF ends a clean stream;
// io.ErrUnexpectedEOF a stream cut inside an octet-counted frame; other
// errors mean the stream is out of sync and must be closed.
func (f *frameReader) Next() ([]byte, error) {
	for {
		b, err := f.r.Peek(1)
		if err != nil {
			return nil, err
		}
		c := b[0]
		switch {
		case c >= '1' && c <= '9':
			return f.octetCounted()
		case c == '\n' || c == '\r' || c == 0 || c == ' ':
			_, _ = f.r.ReadByte() // stray separators between frames
			continue
		}
		return f.line()
	}
}

func (f *frameReader) octetCounted() ([]byte, error) {
	n := 0
	for digits := 0; ; digits++ {
		c, err := f.r.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		if c == ' ' && digits > 0 {
			break
		}
		if c < '0' || c > '9' || digits >= 9 {
			return nil, fmt.Errorf("syslog octet-counting frame: bad length byte %q", c)
		}
		n = n*10 + int(c-'0')
	}
	if n > f.max {
		if _, err := f.r.Discard(n); err != nil {
			return nil, unexpected(err)
		}
		return nil, fmt.Errorf("%w: %d bytes", errOversize, n)
	}
	buf, err := f.r.Peek(n)
	if err != nil {
		return nil, unexpected(err)
	}
	_, _ = f.r.Discard(n)
	return buf, nil
}

func (f *frameReader) line() ([]byte, error) {
	line, err := f.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(bytes.TrimRight(line, "\r\n")) > f.max:
		skipped := len(line)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = f.r.ReadSlice('\n')
			skipped += len(line)
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		return nil, fmt.Errorf("%w: line of %d bytes or more", errOversize, skipped)
	case err == nil:
		return bytes.TrimRight(line, "\r\n\x00"), nil
	case err == io.EOF && len(line) > 0:
		// A last message without a trailing newline is still a message.
		return bytes.TrimRight(line, "\r\x00"), nil
	}
	return nil, err
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
