package estreamer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// fakeFMC is an in-test eStreamer server: a real TLS listener on
// 127.0.0.1:0 requiring a client certificate, running one script per
// accepted connection.
type fakeFMC struct {
	t        testing.TB
	ln       net.Listener
	script   func(n int, c *fmcConn) error
	mu       sync.Mutex
	sessions int
	results  chan sessionResult
	wg       sync.WaitGroup
}

type sessionResult struct {
	n   int
	err error
}

func startFMC(t testing.TB, cfg *tls.Config, script func(n int, c *fmcConn) error) *fakeFMC {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFMC{t: t, ln: ln, script: script, results: make(chan sessionResult, 100)}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() {
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeFMC) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *fakeFMC) serve() {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		n := f.sessions
		f.sessions++
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer conn.Close()
			c := &fmcConn{conn: conn.(*tls.Conn), r: wire.NewReader(conn)}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			err := c.conn.Handshake()
			if err == nil {
				err = f.script(n, c)
			}
			f.results <- sessionResult{n, err}
		}()
	}
}

// next waits for the result of the next finished session.
func (f *fakeFMC) next(ctx context.Context) (sessionResult, error) {
	select {
	case r := <-f.results:
		return r, nil
	case <-ctx.Done():
		return sessionResult{}, fmt.Errorf("waiting for a server session: %w", ctx.Err())
	}
}

// fmcConn is the server side of one session.
type fmcConn struct {
	conn *tls.Conn
	r    *wire.Reader
}

func (c *fmcConn) send(msg []byte) error {
	_, err := c.conn.Write(msg)
	return err
}

func (c *fmcConn) expect(typ uint16) ([]byte, error) {
	m, err := c.r.Next()
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", wire.TypeName(typ), err)
	}
	if m.Type != typ {
		return nil, fmt.Errorf("got %s, want %s", wire.TypeName(m.Type), wire.TypeName(typ))
	}
	return append([]byte(nil), m.Body...), nil
}

func (c *fmcConn) expectNull() error {
	_, err := c.expect(wire.TypeNull)
	return err
}

// handshake plays the extended request negotiation and returns the
// client's Event Stream Request and Streaming Request.
func (c *fmcConn) handshake(info []byte) (wire.EventStreamRequest, wire.StreamingRequest, error) {
	var sr wire.StreamingRequest
	body, err := c.expect(wire.TypeEventStreamRequest)
	if err != nil {
		return wire.EventStreamRequest{}, sr, err
	}
	req, err := wire.ParseEventStreamRequest(body)
	if err != nil {
		return req, sr, err
	}
	if req.Flags&wire.FlagExtended == 0 {
		return req, sr, nil
	}
	if err := c.send(info); err != nil {
		return req, sr, err
	}
	body, err = c.expect(wire.TypeStreamingRequest)
	if err != nil {
		return req, sr, err
	}
	sr, err = wire.ParseStreamingRequest(body)
	if err != nil {
		return req, sr, err
	}
	if sr.InitialTimestamp != req.InitialTimestamp || sr.Flags != req.Flags || sr.Service != wire.ServiceEStreamer {
		return req, sr, fmt.Errorf("streaming request %+v does not echo the event stream request %+v", sr, req)
	}
	// Like an FMC that waits for it, send nothing before the client's
	// Null that follows the Streaming Request.
	if err := c.expectNull(); err != nil {
		return req, sr, fmt.Errorf("no Null after the Streaming Request: %w", err)
	}
	return req, sr, nil
}

// waitClosed reads until the client closes the connection.
func (c *fmcConn) waitClosed() error {
	_, err := io.Copy(io.Discard, c.conn)
	if err == nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func itoaU(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
