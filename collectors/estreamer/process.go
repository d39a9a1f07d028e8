package estreamer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"unicode/utf8"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// maxPackets bounds the packet records attached to one event.
const maxPackets = 1000

// record handles one decoded-or-not record of a bundle or event message.
// Only a store failure ends the session; every skipped record is counted.
func (s *stream) record(ctx context.Context, ed wire.EventData) error {
	env, cfg := s.env, &s.c.cfg
	env.Count("records", 1)
	rec, err := wire.DecodeRecord(ed)
	if err != nil {
		switch {
		case errors.Is(err, wire.ErrUnknownRecord):
			env.Drop("unknown_record", 1)
			env.Log.Debug("eStreamer: skipping record", "record_type", ed.RecordType)
		case errors.Is(err, wire.ErrUnknownBlock):
			env.Drop("unknown_block", 1)
			s.c.warn.log(env.Log, slog.LevelInfo, "unknown_block", "eStreamer: skipping record with an unknown block version",
				"record_type", ed.RecordType, "error", err)
		default:
			env.Drop("malformed_record", 1)
			s.c.warn.log(env.Log, slog.LevelWarn, "malformed_record", "eStreamer: skipping malformed record",
				"record_type", ed.RecordType, "error", err)
		}
		s.done(ed.ArchiveTimestamp)
		return nil
	}
	if s.c.cache.store(rec) {
		env.Count("metadata", 1)
		s.done(ed.ArchiveTimestamp)
		return nil
	}
	switch r := rec.(type) {
	case *wire.Packet:
		s.packet(r)
		s.done(ed.ArchiveTimestamp)
		return nil
	case wire.ExtraData:
		s.extraData(r)
		s.done(ed.ArchiveTimestamp)
		return nil
	}
	e, ok := newEvent(ed, rec)
	if !ok {
		env.Drop("not_submitted_record", 1)
		s.done(ed.ArchiveTimestamp)
		return nil
	}
	s.events++
	env.Count("events", 1)
	// A new event ends the packet records of the held one.
	if err := s.flush(ctx); err != nil {
		return err
	}
	e.names = s.c.cache.enrich(e)
	if ok, why := cfg.Rules.match(e.kind, e.blk, e.names); !ok {
		env.Drop("filtered_"+why, 1)
		s.lastKey, s.lastWhy = e.pktKey, "filtered"
		s.done(ed.ArchiveTimestamp)
		return nil
	}
	e.identify(ed.Data)
	if ed.ArchiveTimestamp != 0 && s.tr.isDuplicate(ed.ArchiveTimestamp, e.key) {
		env.Drop("duplicate", 1)
		s.lastKey, s.lastWhy = e.pktKey, "duplicate"
		s.done(ed.ArchiveTimestamp)
		return nil
	}
	s.lastKey = ""
	if e.kind == KindIntrusion && cfg.holdsIntrusions() {
		s.cur = e
		return nil
	}
	return s.submit(ctx, e)
}

// holdsIntrusions says whether an intrusion event waits for the records
// that follow it: its packets (packet_data) and its extra data (flag bit
// 27), which must be attached whether or not packets are wanted.
func (c *Config) holdsIntrusions() bool {
	return c.PacketData || c.Flags&wire.FlagExtraData != 0
}

func (s *stream) done(ts uint32) {
	if ts > s.doneTS {
		s.doneTS = ts
	}
}

func (s *stream) packet(p *wire.Packet) {
	env := s.env
	k := packetKey(p)
	switch {
	case !s.c.cfg.PacketData:
		env.Drop("packet_not_wanted", 1)
	case s.cur != nil && s.cur.pktKey == k && len(s.cur.packets) < maxPackets:
		s.cur.packets = append(s.cur.packets, p)
		env.Count("packets", 1)
	case s.cur != nil && s.cur.pktKey == k:
		env.Drop("packet_over_limit", 1)
	case k == s.lastKey:
		env.Drop("packet_of_"+s.lastWhy+"_event", 1)
	default:
		env.Drop("packet_unmatched", 1)
	}
}

func (s *stream) extraData(x wire.ExtraData) {
	k := fmt.Sprintf("ids:%d:%d:%d", x.U32("deviceId"), x.U32("eventId"), x.U32("eventSecond"))
	switch {
	case s.cur != nil && s.cur.pktKey == k:
	case k == s.lastKey:
		s.env.Drop("extra_data_of_"+s.lastWhy+"_event", 1)
		return
	default:
		s.env.Drop("extra_data_unmatched", 1)
		return
	}
	v := map[string]any{"type": x.U32("type")}
	if b := x.Bytes("blob"); utf8.Valid(b) {
		v["data"] = string(b)
	} else {
		v["data_hex"] = fmt.Sprintf("%x", b)
	}
	s.cur.extra = append(s.cur.extra, v)
	s.env.Count("extra_data", 1)
}

// flush submits the held event, if any.
func (s *stream) flush(ctx context.Context) error {
	s.stopHold()
	if s.cur == nil {
		return nil
	}
	e := s.cur
	s.cur = nil
	return s.submit(ctx, e)
}

// submit builds and submits the event's submission; a store failure ends
// the session so the server re-sends from the bookmark.
//
// Exactly-once across a crash. Each event is stored by its own Submit,
// while the bookmark (a persistence key) is written once per bundle, after
// the bundle; so a crash in the middle of a bundle leaves events stored
// that the bookmark does not cover, and the server re-sends them. Writing
// the bookmark after every event would not close that gap (the store and
// the bookmark are two commits, a crash can fall between them) and would
// cost a commit per event. Instead the event's identity travels with the
// submission as its DedupKey, which the store commits in the same
// transaction as the submission: "stored" and "known to be stored" cannot
// disagree, and a re-sent event is dropped by the store (counted there as
// dropped_duplicate) however the previous run ended. The bookmark's own
// seen-set is kept: it is permanent, so it still recognises the events of
// the bookmark second when a reconnect comes after the volatile dedup
// keys expired (persistence_unmodified_expiration_seconds), e.g. after a
// long FMC outage.
func (s *stream) submit(ctx context.Context, e *event) error {
	env, cfg := s.env, &s.c.cfg
	sub, err := s.c.buildSubmission(env.Global, e)
	if err != nil {
		env.Drop("invalid", 1)
		env.Log.Error("eStreamer: cannot build submission", "event", e.key, "error", err)
		s.done(e.archiveTS)
		return nil
	}
	sub.DedupKey = e.key
	var pcapPath string
	if len(e.packets) > 0 && cfg.PacketData {
		pcapPath, err = writePCAP(cfg.WorkDir, e.packets)
		if err != nil {
			return s.fail("submit", err)
		}
		dev, id := e.blk.U32("deviceId"), e.blk.U32("eventId")
		sub.Files = append(sub.Files, collector.File{Path: pcapPath,
			Name: fmt.Sprintf("estreamer_%d_%d.pcap", dev, id), DeleteSource: true})
	}
	if err := env.Sink.Submit(ctx, sub); err != nil {
		if pcapPath != "" {
			os.Remove(pcapPath)
		}
		if errors.Is(err, collector.ErrInvalid) {
			env.Drop("invalid", 1)
			env.Log.Error("eStreamer: submission rejected as invalid", "event", e.key, "error", err)
			s.done(e.archiveTS)
			return nil
		}
		return s.fail("submit", fmt.Errorf("%w: %w", errStore, err))
	}
	env.Count("submitted", 1)
	env.Log.Debug("eStreamer: submitted", "uuid", sub.UUID, "event", e.key, "archive_timestamp", e.archiveTS)
	if e.archiveTS != 0 {
		s.tr.submitted(e.archiveTS, e.key)
	}
	s.done(e.archiveTS)
	return nil
}
