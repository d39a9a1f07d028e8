package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// tlsHandshakeTimeout bounds how long a TLS client may take to handshake.
const tlsHandshakeTimeout = 10 * time.Second

// listen binds every configured transport and starts its receivers.
func (r *run) listen(ctx context.Context) error {
	var lc net.ListenConfig
	if a := r.cfg.ListenUDP; a != "" {
		pc, err := lc.ListenPacket(ctx, "udp", a)
		if err != nil {
			return fmt.Errorf("syslog: listening on udp %s: %w", a, err)
		}
		conn := pc.(*net.UDPConn)
		if r.cfg.UDPReadBuffer > 0 {
			if err := conn.SetReadBuffer(r.cfg.UDPReadBuffer); err != nil {
				r.env.Log.Warn("setting UDP receive buffer", "size", r.cfg.UDPReadBuffer, "error", err)
			}
		}
		r.addCloser("udp", conn.LocalAddr(), func() { _ = conn.Close() })
		r.receivers.Add(1)
		go func() {
			defer r.receivers.Done()
			r.readUDP(ctx, conn)
		}()
	}
	for _, t := range []struct {
		name, addr string
		tls        bool
	}{{"tcp", r.cfg.ListenTCP, false}, {"tls", r.cfg.ListenTLS, true}} {
		if t.addr == "" {
			continue
		}
		ln, err := lc.Listen(ctx, "tcp", t.addr)
		if err != nil {
			return fmt.Errorf("syslog: listening on %s %s: %w", t.name, t.addr, err)
		}
		addr := ln.Addr()
		if t.tls {
			ln = tls.NewListener(ln, r.cfg.TLS)
		}
		r.addCloser(t.name, addr, func() { _ = ln.Close() })
		r.receivers.Add(1)
		go func() {
			defer r.receivers.Done()
			r.accept(ctx, ln, t.name)
		}()
	}
	return nil
}

func (r *run) addCloser(transport string, addr net.Addr, f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs[transport] = addr
	r.closers = append(r.closers, f)
}

func (r *run) closeAll() {
	r.mu.Lock()
	cl := r.closers
	r.closers = nil
	r.mu.Unlock()
	for _, f := range cl {
		f()
	}
}

// readUDP receives datagrams until the socket is closed. One datagram is
// one message. When the queue is full the datagram is counted as
// dropped_queue_full rather than blocking the socket (which would only
// move the loss into the kernel, where it is counted as kernel_overflow
// when the platform reports it).
func (r *run) readUDP(ctx context.Context, conn *net.UDPConn) {
	ovfl := enableOverflowCount(conn)
	var lastOvfl uint32
	buf := make([]byte, r.cfg.MaxMessageSize+1)
	oob := make([]byte, 64)
	for {
		n, oobn, flags, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			r.env.Count("udp_read_error", 1)
			r.env.Log.Warn("syslog UDP read", "error", err)
			continue
		}
		if ovfl {
			if v, ok := overflowCount(oob[:oobn]); ok && v != lastOvfl {
				r.env.Drop("kernel_overflow", int64(v-lastOvfl))
				lastOvfl = v
			}
		}
		r.env.Count("received", 1)
		if n > r.cfg.MaxMessageSize || flags&msgTrunc != 0 {
			r.dropOversize("udp", from.Addr().Unmap(), fmt.Sprintf("datagram of %d bytes or more", n))
			r.env.Drop("overrun", 1)
			continue
		}
		m := message{data: append([]byte(nil), buf[:n]...), peer: from.Addr().Unmap(), transport: "udp", received: r.now()}
		select {
		case r.queue <- m:
		default:
			r.env.Drop("queue_full", 1)
		}
	}
}

// accept serves stream connections until the listener is closed.
func (r *run) accept(ctx context.Context, ln net.Listener, transport string) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	defer func() {
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			r.env.Count(transport+"_accept_error", 1)
			r.env.Log.Warn("syslog accept", "transport", transport, "error", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		mu.Lock()
		if len(conns) >= r.cfg.MaxConnections {
			mu.Unlock()
			r.drops.logf(slog.LevelWarn, "connection_limit", "syslog connection refused: max_connections reached",
				"transport", transport, "peer", conn.RemoteAddr().String(), "max_connections", r.cfg.MaxConnections)
			r.env.Drop("connection_limit", 1)
			_ = conn.Close()
			continue
		}
		conns[conn] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.readStream(ctx, conn, transport)
			mu.Lock()
			delete(conns, conn)
			mu.Unlock()
			_ = conn.Close()
		}()
	}
}

// readStream reads framed messages from one connection. A full queue
// blocks the reader, which pushes back on the sender through TCP.
func (r *run) readStream(ctx context.Context, conn net.Conn, transport string) {
	var peer netip.Addr
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		peer = ap.Addr().Unmap()
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if tc, ok := conn.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			r.env.Count("tls_handshake_error", 1)
			r.drops.logf(slog.LevelInfo, "tls_handshake", "syslog TLS handshake failed", "peer", peer.String(), "error", err)
			return
		}
	}
	fr := newFrameReader(conn, r.cfg.MaxMessageSize)
	for {
		data, err := fr.Next()
		if err != nil {
			switch {
			case errors.Is(err, errOversize):
				r.env.Count("received", 1)
				r.dropOversize(transport, peer, err.Error())
				r.env.Drop("overrun", 1)
				continue
			case err == io.EOF || ctx.Err() != nil || errors.Is(err, net.ErrClosed):
			default:
				// A frame cut by the connection's end, or a stream out of
				// sync: the rest of the connection is lost, counted once.
				r.drops.logf(slog.LevelWarn, "stream_error", "syslog stream dropped: malformed framing",
					"transport", transport, "peer", peer.String(), "error", err)
				r.env.Drop("stream_error", 1)
			}
			return
		}
		r.env.Count("received", 1)
		m := message{data: append([]byte(nil), data...), peer: peer, transport: transport, received: r.now()}
		select {
		case r.queue <- m:
		case <-ctx.Done():
			r.env.Drop("shutdown", 1)
			return
		}
	}
}

// dropOversize logs (rate limited) a message dropped for its size.
func (r *run) dropOversize(transport string, peer netip.Addr, what string) {
	r.drops.logf(slog.LevelWarn, "overrun", "syslog message dropped: longer than max_message_size",
		"transport", transport, "peer", peer.String(), "max_message_size", r.cfg.MaxMessageSize, "error", what)
}
