package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/groups"
)

// pool keeps idle connections, one per worker that used one.
type pool struct {
	mu     sync.Mutex
	idle   []net.Conn
	closed bool
}

func newPool() *pool { return &pool{} }

func (p *pool) get() net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c
	}
	return nil
}

func (p *pool) put(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

// conn returns a connection: an idle one the receiver has not closed, or
// a new one.
func (d *Delivery) conn(ctx context.Context) (net.Conn, error) {
	for {
		c := d.pool.get()
		if c == nil {
			break
		}
		if d.st.Network == "udp" || alive(c) {
			return c, nil
		}
		c.Close()
	}
	return d.dial(ctx)
}

// alive reports whether the receiver still holds a stream connection
// open. A receiver that restarted closed it, and a write to it would
// succeed locally while the line is lost when the reset arrives. Syslog
// receivers send nothing, so anything to read — the end of the stream, a
// TLS close alert — means the connection is done. The check peeks at the
// socket without waiting (a read deadline in the past would not even look).
func alive(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = errors.Is(rerr, syscall.EAGAIN)
		return true // never wait
	})
	return err == nil && open
}

// send writes the messages: on a stream in one write, over UDP one
// datagram each. A write is bounded by timeout and by ctx (shutdown's
// hard stop).
func (d *Delivery) send(ctx context.Context, msgs [][]byte) error {
	c, err := d.conn(ctx)
	if err != nil {
		return err
	}
	c.SetWriteDeadline(time.Now().Add(d.st.Timeout))
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	err = write(c, d.st.Network, msgs)
	if !stop() || err != nil {
		c.Close()
		if err == nil {
			return nil // written; only the connection is not reused
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return groups.Transient(kindOf(err), fmt.Errorf("writing to %s: %w", d.st.Target, err))
	}
	d.pool.put(c)
	return nil
}

func write(c net.Conn, network string, msgs [][]byte) error {
	if network == "udp" {
		for _, m := range msgs {
			if _, err := c.Write(m); err != nil {
				return err
			}
		}
		return nil
	}
	if len(msgs) == 1 {
		_, err := c.Write(msgs[0])
		return err
	}
	bufs := net.Buffers(msgs)
	_, err := bufs.WriteTo(c)
	return err
}

func kindOf(err error) string {
	if k := api.FailureKind(err); k != "" && k != api.KindOther {
		return k
	}
	return "connect"
}

// tlsDialer dials TCP and completes a verified TLS handshake.
type tlsDialer struct {
	net  *net.Dialer
	conf *tls.Config
}

func (t *tlsDialer) DialContext(ctx context.Context, addr string) (net.Conn, error) {
	d := tls.Dialer{NetDialer: t.net, Config: t.conf}
	return d.DialContext(ctx, "tcp", addr)
}
