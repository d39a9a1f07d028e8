package estreamer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// readResult is one message handed from the reader goroutine.
type readResult struct {
	m   wire.Message
	err error
}

// session runs one connection: connect, request, negotiate, stream. It
// returns whether any event data arrived (to reset the backoff) and why
// it ended.
func (c *Collector) session(ctx context.Context, env *collector.Env) (progressed bool, err error) {
	creds, err := loadCredentials(c.cfg.TLS)
	if err != nil {
		return false, &sessionError{stage: "credentials", err: err}
	}
	tr, err := loadTracker(ctx, env.State.Get)
	if errors.Is(err, errCorruptBookmark) {
		// Never wedge on our own damaged state: report it, count it, and
		// start from the configured position; the next write replaces it.
		env.Drop("corrupt_bookmark", 1)
		env.Log.Error("eStreamer: ignoring the stored bookmark", "error", err, "start", c.cfg.Start)
		tr, err = &tracker{seen: map[uint32]map[string]bool{}}, nil
	}
	if err != nil {
		return false, &sessionError{stage: "bookmark", err: err}
	}
	d := net.Dialer{Timeout: c.cfg.ConnectTimeout}
	raw, err := d.DialContext(ctx, "tcp", c.addr())
	if err != nil {
		return false, &sessionError{stage: "connect", err: err}
	}
	conn := tls.Client(raw, tlsConfig(&c.cfg, creds))
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	hctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	err = conn.HandshakeContext(hctx)
	cancel()
	if err != nil {
		return false, &sessionError{stage: "handshake", err: err}
	}
	env.Count("connections", 1)

	s := &stream{c: c, env: env, conn: conn, tr: tr, initial: c.cfg.Start}
	if c.cfg.Resume && tr.valid {
		s.initial = tr.ts
	}
	env.Log.Info("eStreamer connected", "server", c.addr(), "tls", tls.VersionName(conn.ConnectionState().Version),
		"initial_timestamp", s.initial, "flags", fmt.Sprintf("%#08x", c.cfg.Flags))
	err = s.run(ctx)
	return s.dataAcks > 0, err
}

// stream is the state of one connected session.
type stream struct {
	c        *Collector
	env      *collector.Env
	conn     *tls.Conn
	tr       *tracker
	initial  uint32
	msgs     int
	events   int
	dataAcks int // event / bundle messages fully handled and acknowledged

	cur      *event // intrusion event waiting for its packets
	lastKey  string // last event identity not held (filtered / duplicate)
	lastWhy  string
	doneTS   uint32 // highest archive timestamp fully handled
	items    []wire.EventData
	holdTime *time.Timer
}

func (s *stream) fail(stage string, err error) error {
	return &sessionError{stage: stage, msgs: s.msgs, err: err}
}

func (s *stream) send(typ uint16, body []byte) error {
	s.conn.SetWriteDeadline(time.Now().Add(s.c.cfg.WriteTimeout))
	return wire.WriteMessage(s.conn, typ, body)
}

func (s *stream) run(ctx context.Context) (err error) {
	cfg := &s.c.cfg
	req := wire.EventStreamRequest{InitialTimestamp: s.initial, Flags: cfg.Flags}
	if err := s.send(wire.TypeEventStreamRequest, req.Append(nil)); err != nil {
		return s.fail("request", err)
	}

	// The reader goroutine reads one message at a time and waits until
	// the main loop is done with it (the body buffer is reused).
	msgs := make(chan readResult)
	next := make(chan struct{})
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := wire.NewReader(s.conn)
		r.Max = cfg.MaxMessage
		for {
			s.conn.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
			m, err := r.Next()
			select {
			case msgs <- readResult{m, err}:
			case <-quit:
				return
			}
			var oe *wire.OversizeError
			if err != nil && !errors.As(err, &oe) {
				return // the stream is out of step or gone
			}
			select {
			case <-next:
			case <-quit:
				return
			}
		}
	}()
	defer func() {
		close(quit)
		s.goodbye(ctx, err)
		s.conn.Close()
		wg.Wait()
		s.stopHold()
	}()

	negotiated := cfg.Flags&wire.FlagExtended == 0
	for {
		var hold <-chan time.Time
		if s.holdTime != nil {
			hold = s.holdTime.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-hold:
			s.holdTime = nil
			if err := s.flush(ctx); err != nil {
				return err
			}
			if err := s.persist(ctx); err != nil {
				return err
			}
		case res := <-msgs:
			var oe *wire.OversizeError
			if res.err != nil && !errors.As(res.err, &oe) {
				return s.fail("stream", res.err)
			}
			s.msgs++
			if err := s.handleRead(ctx, res.m, oe, &negotiated); err != nil {
				return err
			}
			next <- struct{}{}
		}
	}
}

// handleRead processes one message, or one the reader skipped as too
// large: that is counted and, if it carried data, acknowledged, so the
// stream goes on (a session dropped for it would get it again, forever).
func (s *stream) handleRead(ctx context.Context, m wire.Message, oe *wire.OversizeError, negotiated *bool) error {
	if oe == nil {
		return s.handle(ctx, m, negotiated)
	}
	s.env.Drop("oversized_message", 1)
	s.c.warn.log(s.env.Log, slog.LevelWarn, "oversized_message", "eStreamer: skipped a message larger than max_message_size",
		"type", wire.TypeName(oe.Type), "length", oe.Length, "max_message_size", oe.Limit)
	if oe.Type == wire.TypeMessageBundle || oe.Type == wire.TypeEventData {
		return s.endOfMessage(ctx)
	}
	return nil
}

// handle processes one server message.
func (s *stream) handle(ctx context.Context, m wire.Message, negotiated *bool) error {
	env := s.env
	switch m.Type {
	case wire.TypeNull:
		// Keep-alive: an idle moment, so nothing more is coming for the
		// held event. Answer with a Null like the reference client.
		env.Count("keepalives", 1)
		if err := s.flush(ctx); err != nil {
			return err
		}
		if err := s.persist(ctx); err != nil {
			return err
		}
		return s.ack()
	case wire.TypeError:
		em, err := wire.ParseError(m.Body)
		if err != nil {
			return s.fail("stream", err)
		}
		env.Count("server_errors", 1)
		return s.fail("stream", em)
	case wire.TypeStreamingInformation:
		if *negotiated {
			env.Drop("unexpected_message", 1)
			env.Log.Warn("eStreamer: ignoring a second Streaming Information message")
			return nil
		}
		if err := s.negotiate(m.Body); err != nil {
			return err
		}
		*negotiated = true
		return nil
	case wire.TypeEventData:
		// Bad data is skipped and counted, never a reason to drop the
		// session: the server would send the same bytes again after the
		// reconnect, and the stream would stop there for good.
		ed, err := wire.ParseEventData(m.Body)
		if err != nil {
			s.skipped(wire.SkippedItem{Length: len(m.Body), RecordType: firstWord(m.Body), Err: err}, 0)
		} else if err := s.record(ctx, ed); err != nil {
			return err
		}
		return s.endOfMessage(ctx)
	case wire.TypeMessageBundle:
		return s.bundle(ctx, m.Body)
	}
	env.Drop("unexpected_message", 1)
	env.Log.Warn("eStreamer: skipping unexpected message", "type", wire.TypeName(m.Type), "length", len(m.Body))
	return nil
}

// negotiate answers the Streaming Information with the Streaming Request
// for service 6667.
func (s *stream) negotiate(body []byte) error {
	cfg := &s.c.cfg
	svcs, err := wire.ParseStreamingInformation(body)
	if err != nil {
		return s.fail("request", err)
	}
	found := false
	for _, sv := range svcs {
		found = found || sv.ID == wire.ServiceEStreamer
	}
	if !found {
		return s.fail("request", fmt.Errorf("%w: Streaming Information does not offer service 6667 (got %v)", wire.ErrMalformed, svcs))
	}
	sr := wire.StreamingRequest{Service: wire.ServiceEStreamer, Flags: cfg.Flags,
		InitialTimestamp: s.initial, Events: cfg.Events, Convention: cfg.LengthConv}
	if err := s.send(wire.TypeStreamingRequest, sr.Append(nil)); err != nil {
		return s.fail("request", err)
	}
	// Then a Null, as eNcore does on a real FMC (it acknowledges the
	// Streaming Information): a server that waits for it would otherwise
	// send nothing until the idle timeout, every session.
	return s.ack()
}

// bundle handles a Message Bundle: the items that frame are processed,
// the others skipped and counted, and the bundle is acknowledged.
func (s *stream) bundle(ctx context.Context, body []byte) error {
	env := s.env
	b, err := wire.ParseBundle(body, s.items)
	if err != nil {
		env.Drop("malformed_message", 1)
		s.c.warn.log(env.Log, slog.LevelWarn, "malformed_message", "eStreamer: skipping a bundle too short for its header",
			"length", len(body), "error", err)
		return s.endOfMessage(ctx)
	}
	s.items = b.Items
	env.Count("bundles", 1)
	for _, sk := range b.Skipped {
		s.skipped(sk, b.Sequence)
	}
	for _, ed := range b.Items {
		if err := s.record(ctx, ed); err != nil {
			return err
		}
	}
	return s.endOfMessage(ctx)
}

// skipped counts and reports (rate-limited) a record, or the rest of a
// bundle, that could not be framed: its record header disagrees with its
// length, or the bundle's item framing broke at that offset.
func (s *stream) skipped(sk wire.SkippedItem, seq uint32) {
	if sk.Rest {
		s.env.Drop("malformed_bundle", 1)
		s.c.warn.log(s.env.Log, slog.LevelWarn, "malformed_bundle", "eStreamer: skipping the rest of a bundle whose items cannot be framed",
			"bundle", seq, "offset", sk.Offset, "length", sk.Length, "record_type", sk.RecordType, "error", sk.Err)
		return
	}
	s.env.Drop("malformed_record", 1)
	s.c.warn.log(s.env.Log, slog.LevelWarn, "malformed_record", "eStreamer: skipping a record whose length disagrees with its message",
		"bundle", seq, "offset", sk.Offset, "record_type", sk.RecordType, "error", sk.Err)
}

// firstWord is the record type of an Event Data body, for reports.
func firstWord(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) & 0x7FFFFFFF
}

// endOfMessage persists progress and acknowledges the message with a Null
// (one per bundle / per event message).
func (s *stream) endOfMessage(ctx context.Context) error {
	if s.cur != nil && s.holdTime == nil {
		s.holdTime = time.NewTimer(s.c.cfg.PacketWait)
	}
	if err := s.persist(ctx); err != nil {
		return err
	}
	if err := s.ack(); err != nil {
		return err
	}
	s.dataAcks++
	return nil
}

// goodbye tells the server why the client closes, as the guide asks,
// unless the server ended the session itself. Best effort, short deadline.
func (s *stream) goodbye(ctx context.Context, err error) {
	var em *wire.ErrorMessage
	var ne net.Error
	switch {
	case err == nil, errors.As(err, &em), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed) && ctx.Err() == nil,
		errors.As(err, &ne) && !ne.Timeout():
		return
	}
	text := err.Error()
	if ctx.Err() != nil {
		text = "client shutting down"
	}
	s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	wire.WriteMessage(s.conn, wire.TypeError, wire.AppendError(nil, -1, text))
}

func (s *stream) stopHold() {
	if s.holdTime != nil {
		s.holdTime.Stop()
		s.holdTime = nil
	}
}

func (s *stream) ack() error {
	if err := s.send(wire.TypeNull, nil); err != nil {
		return s.fail("stream", err)
	}
	return nil
}

// persist writes the bookmark if it moved: the highest archive timestamp
// handled, but never past an event still held.
func (s *stream) persist(ctx context.Context) error {
	cand := s.doneTS
	if s.cur != nil && s.cur.archiveTS != 0 && s.cur.archiveTS < cand {
		cand = s.cur.archiveTS
	}
	s.tr.advance(cand)
	if !s.tr.dirty {
		return nil
	}
	if err := s.env.State.Put(ctx, bookmarkKey, s.tr.encode()); err != nil {
		return s.fail("bookmark", fmt.Errorf("writing bookmark: %w", err))
	}
	s.tr.dirty = false
	return nil
}

var errStore = errors.New("submission store unavailable")
