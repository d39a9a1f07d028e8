package wire_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire/wiretest"
)

// seedStream is the fuzz seed corpus: small messages, one record each
// (plus one two-item bundle and one bare EventData message). Keep seeds
// small: every input the fuzzer finds interesting is minimized, which costs
// about len(input)^2/2 runs, so one 2.7 KB seed holding every record
// stalled FuzzReader in minimization (a few hundred execs/s overall).
func seedStream() [][]byte {
	ev := wiretest.Intrusion{Device: 3, EventID: 1, Second: 1700000000, SID: 1, GID: 1, Src: "10.0.0.1", Dst: "10.0.0.2", Host: "h", URI: "/"}
	records := []wiretest.Item{
		ev.Record(85, 5), ev.Record(60, 5), ev.Record(81, 5), ev.Record(41, 5),
		wiretest.PacketRecord(3, 1, 1700000000, 1700000000, 0, 1, []byte{1, 2, 3}, 5),
		wiretest.IDNameRecord(123, 3, "dev"), wiretest.PriorityRecord(1, "high"),
		wiretest.RuleMessageRecord(1, 1, 1, "m"), wiretest.ClassificationRecord(1, "c", "d"),
		wiretest.UUIDNameRecord(115, "ed81dc4e-3444-11eb-a581-703a42c735fb", "inside"),
		wiretest.UserRecord(1, "u"), wiretest.ConnectionRecord(3, 174, nil, 5),
		wiretest.FileRecord(502, wiretest.V{"fileName": "a"}, 5),
		wiretest.CorrelationRecord(wiretest.V{"eventDescription": "d", "url": "u"}, 5),
		wiretest.IOCRecord(3, 1, 1700000000, "10.0.0.1", 5),
		wiretest.CorrelationPolicyRecord(1, "p", "d"), wiretest.CorrelationRuleRecord(1, "r", "d", "e"),
		wiretest.IOCNameRecord(1, "c", "e"), wiretest.SICategoryRecord(1, "ed81dc4e-3444-11eb-a581-703a42c735fb", "s"),
	}
	bad := records[5]
	bad.LengthDelta = 3
	seeds := [][]byte{
		wiretest.NullMessage(),
		wiretest.StreamingInfoMessage(5001, 6667),
		wiretest.ErrorMessage(19, "No space\x00"),
		wiretest.BundleMessage(1, 1, records[5], records[6]),
		wiretest.BundleMessage(1, 1, records[5], bad, records[6]),
		records[4].EventMessage(),
	}
	for i, rec := range records {
		seeds = append(seeds, wiretest.BundleMessage(1, uint32(i+2), rec))
	}
	return seeds
}

// FuzzReader feeds arbitrary bytes through the framing layer and every
// decoder reachable from it; nothing may panic, and every error must be
// classified.
func FuzzReader(f *testing.F) {
	for _, s := range seedStream() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { readAll(t, data) })
}

// readAll is FuzzReader's body: every message of data through its decoder.
func readAll(t testing.TB, data []byte) {
	r := wire.NewReader(bytes.NewReader(data))
	r.Max = 1 << 16
	for {
		m, err := r.Next()
		var oe *wire.OversizeError
		if errors.As(err, &oe) {
			continue // skipped, the reader is still in step
		}
		if err != nil {
			if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		switch m.Type {
		case wire.TypeError:
			_, _ = wire.ParseError(m.Body)
		case wire.TypeStreamingInformation:
			_, _ = wire.ParseStreamingInformation(m.Body)
		case wire.TypeStreamingRequest:
			_, _ = wire.ParseStreamingRequest(m.Body)
		case wire.TypeEventData:
			if ed, err := wire.ParseEventData(m.Body); err == nil {
				checkRecord(t, ed)
			}
		case wire.TypeMessageBundle:
			b, err := wire.ParseBundle(m.Body, nil)
			if err != nil {
				continue
			}
			for _, ed := range b.Items {
				checkRecord(t, ed)
			}
			for _, sk := range b.Skipped {
				if !errors.Is(sk.Err, wire.ErrMalformed) || sk.Offset < 8 || sk.Length <= 0 || sk.Offset+sk.Length > len(m.Body) {
					t.Fatalf("bad skipped item %+v (bundle of %d bytes)", sk, len(m.Body))
				}
			}
		}
	}
}

func checkRecord(t testing.TB, ed wire.EventData) {
	rec, err := wire.DecodeRecord(ed)
	if err != nil {
		if !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrUnknownRecord) && !errors.Is(err, wire.ErrUnknownBlock) {
			t.Fatalf("unclassified record error %v", err)
		}
		return
	}
	if b, ok := rec.(interface{ MarshalJSON() ([]byte, error) }); ok {
		out, err := b.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("MarshalJSON wrote invalid JSON %q", out)
		}
	}
}

// FuzzRecord fuzzes the record decoders directly (record type + data).
func FuzzRecord(f *testing.F) {
	for _, s := range seedStream() {
		m, err := wire.NewReader(bytes.NewReader(s)).Next()
		if err != nil || m.Type != wire.TypeMessageBundle {
			continue
		}
		b, _ := wire.ParseBundle(m.Body, nil)
		for _, ed := range b.Items {
			f.Add(ed.RecordType, append([]byte(nil), ed.Data...))
		}
	}
	tv23, _ := hex.DecodeString("0000002d0000003d0000002d00000001000000000000000a410000000000000000176120686f7374206164647265737300")
	f.Add(uint32(320), tv23)
	f.Fuzz(func(t *testing.T, rec uint32, data []byte) {
		checkRecord(t, wire.EventData{RecordType: rec, Data: data})
	})
}

// FuzzStreamingRequest checks that what parses re-encodes to the same bytes.
func FuzzStreamingRequest(f *testing.F) {
	f.Add(wire.StreamingRequest{Service: 6667, Flags: wire.DefaultFlags, Events: wire.DefaultEventVersions}.Append(nil))
	f.Add(wire.StreamingRequest{Service: 6667, Events: wire.DefaultEventVersions[:2], Convention: wire.LengthExcludingHeader}.Append(nil))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := wire.ParseStreamingRequest(body)
		if err != nil {
			return
		}
		if got := r.Append(nil); !bytes.Equal(got, body) {
			t.Fatalf("re-encoded %x, want %x", got, body)
		}
	})
}
