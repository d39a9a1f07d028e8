package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire/wiretest"
)

// decodeOne frames item as a bundle, reads it back and decodes the record.
func decodeOne(t *testing.T, it wiretest.Item) (wire.EventData, wire.Record) {
	t.Helper()
	r := wire.NewReader(bytes.NewReader(wiretest.BundleMessage(7, 1, it)))
	m, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.ParseBundle(m.Body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Items) != 1 {
		t.Fatalf("%d items", len(b.Items))
	}
	rec, err := wire.DecodeRecord(b.Items[0])
	if err != nil {
		t.Fatal(err)
	}
	return b.Items[0], rec
}

func TestRoundTripIntrusionBlocks(t *testing.T) {
	ev := wiretest.Intrusion{Device: 9, EventID: 77, Second: 1700000100, Micro: 5, GID: 1, SID: 2100498, Rev: 3,
		Class: 4, Priority: 1, Src: "192.0.2.10", Dst: "198.51.100.7", SrcPort: 40000, DstPort: 80, Proto: 6,
		Blocked: 2, UserID: 12, AppID: 676, IngressZone: "ed81dc4e-3444-11eb-a581-703a42c735fb",
		Host: "evil.example", URI: "/x?y=1"}
	for _, block := range []uint32{41, 60, 81, 85} {
		ed, rec := decodeOne(t, ev.Record(block, 1700000105))
		e, ok := rec.(wire.IntrusionEvent)
		if !ok || !ed.Extended || ed.ArchiveTimestamp != 1700000105 {
			t.Fatalf("block %d: %T %+v", block, rec, ed)
		}
		if e.U32("blockType") != block || e.U32("eventId") != 77 || e.U32("ruleId") != 2100498 ||
			e.IP("sourceIpAddress") != netip.MustParseAddr("192.0.2.10") || e.Uint("blocked") != 2 ||
			e.UUID("securityZoneIngressUuid") != "ed81dc4e-3444-11eb-a581-703a42c735fb" {
			t.Errorf("block %d: %s", block, js(t, e.Block))
		}
		if wantHost := block == 85; (e.Str("httpHostname") == "evil.example") != wantHost {
			t.Errorf("block %d: httpHostname %q", block, e.Str("httpHostname"))
		}
	}
}

func js(t *testing.T, b *wire.Block) string {
	j, err := b.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

func TestRoundTripConnectionBlocks(t *testing.T) {
	v := wiretest.V{"deviceId": 1, "initiatorIpAddress": "192.168.50.50", "responderIpAddress": "52.114.128.70",
		"initiatorPort": 59265, "responderPort": 443, "protocol": 6, "firstPacketTimestamp": 1606923236,
		"lastPacketTimestamp": 1606923301, "clientUrl": "https://v10.vortex-win.data.microsoft.com\x00",
		"ingressZone": "ed81dc4e-3444-11eb-a581-703a42c735fb", "sslServerName": "x.example",
		"natInitiatorIp": "10.0.0.1", "ingressVRFName": "Global", "fileEventCount": 3, "fileCount": 3,
		"securityIntelligenceList3": 5, "threatIntelligenceCategory": 6}
	for _, block := range []uint32{160, 163, 168, 169, 170, 171, 173, 174} {
		it := wiretest.ConnectionRecord(1, block, v, 1606923302)
		_, rec := decodeOne(t, it)
		c := rec.(wire.ConnectionEvent)
		if c.Header.DeviceID != 1 || c.Header.EventType != 1003 || c.U32("blockType") != block ||
			c.IP("initiatorIpAddress") != netip.MustParseAddr("192.168.50.50") || c.Uint("responderPort") != 443 ||
			c.Str("clientUrl") != "https://v10.vortex-win.data.microsoft.com" || c.Str("sslServerName") != "x.example" {
			t.Errorf("block %d: %s", block, js(t, c.Block))
		}
		if got := c.Uint("securityIntelligenceList3"); (got == 5) != (block == 168) {
			t.Errorf("block %d: list3 %d", block, got)
		}
		if got := c.Str("ingressVRFName"); (got == "Global") != (block >= 171) {
			t.Errorf("block %d: ingressVRFName %q", block, got)
		}
		if got := c.IP("natInitiatorIp"); (got == netip.MustParseAddr("10.0.0.1")) != (block == 174) {
			t.Errorf("block %d: natInitiatorIp %v", block, got)
		}
	}
}

// The real FMC connection record of TV22 has block 160 of length 612
// with a 41-character clientUrl plus NUL and every other string empty,
// and record length 668 = 40 + 16 + 612.
func TestConnection160MatchesRealLength(t *testing.T) {
	it := wiretest.ConnectionRecord(1, 160, wiretest.V{"clientUrl": "https://v10.vortex-win.data.microsoft.com\x00"}, 1606923302)
	if len(it.Data) != 668 {
		t.Fatalf("record length %d, want 668", len(it.Data))
	}
	_, rec := decodeOne(t, it)
	if c := rec.(wire.ConnectionEvent); c.U32("blockLength") != 612 {
		t.Fatalf("block length %d", c.U32("blockLength"))
	}
}

func TestRoundTripFileAndMetadata(t *testing.T) {
	sha := bytes.Repeat([]byte{0xab}, 32)
	_, rec := decodeOne(t, wiretest.FileRecord(wire.RecFileMalware, wiretest.V{"deviceId": 2, "shaHash": sha,
		"fileName": "invoice.pdf.exe", "disposition": 3, "sourceIpAddress": "203.0.113.5",
		"destinationIpAddress": "10.0.0.5", "uri": "http://203.0.113.5/invoice.pdf.exe", "fileSize": uint64(1234)}, 1700000200))
	f := rec.(wire.FileEvent)
	if f.RecordType() != 502 || f.Str("fileName") != "invoice.pdf.exe" || !bytes.Equal(f.Bytes("shaHash"), sha) || f.Uint("fileSize") != 1234 {
		t.Errorf("file: %s", js(t, f.Block))
	}
	for _, c := range []struct {
		it   wiretest.Item
		want string
	}{
		{wiretest.PriorityRecord(2, "medium"), "medium"},
		{wiretest.RuleMessageRecord(1, 2100498, 3, "ET POLICY x"), "ET POLICY x"},
		{wiretest.ClassificationRecord(4, "trojan-activity", "A Network Trojan"), "trojan-activity"},
		{wiretest.IDNameRecord(123, 9, "ftd-1"), "ftd-1"},
		{wiretest.UUIDNameRecord(115, "ed81dc4e-3444-11eb-a581-703a42c735fb", "inside"), "inside"},
		{wiretest.UserRecord(12, "alice"), "alice"},
	} {
		_, rec := decodeOne(t, c.it)
		var got string
		switch m := rec.(type) {
		case *wire.Priority:
			got = m.Name
		case *wire.RuleMessage:
			got = m.Message
		case *wire.Classification:
			got = m.Name
		case *wire.IDName:
			got = m.Name
		case *wire.UUIDName:
			got = m.Name
		case *wire.User:
			got = m.Name
		}
		if got != c.want {
			t.Errorf("record %d: %q, want %q", c.it.RecordType, got, c.want)
		}
	}
}

func TestMalformed(t *testing.T) {
	good := wiretest.BundleMessage(1, 1, wiretest.IDNameRecord(123, 1, "dev"))
	cases := []struct {
		name string
		msg  []byte
		want string
	}{
		{"header version 2", append([]byte{0, 2}, good[2:]...), "header version 2"},
		{"short bundle", wire.AppendMessage(nil, wire.TypeMessageBundle, []byte{0, 0, 0, 1}), "shorter than 8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := wire.NewReader(bytes.NewReader(c.msg))
			r.Max = 1 << 20
			m, err := r.Next()
			if err == nil {
				_, err = wire.ParseBundle(m.Body, nil)
			}
			if !errors.Is(err, wire.ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want malformed %q", err, c.want)
			}
		})
	}
}

// TestBundleSkipsBadItems: an item whose record header disagrees with its
// item length is reported and the items around it are kept (the outer
// length frames them); when the framing itself breaks, the items before
// are kept and the rest of the bundle is reported as one skipped part.
func TestBundleSkipsBadItems(t *testing.T) {
	a, c := wiretest.IDNameRecord(123, 1, "a"), wiretest.IDNameRecord(123, 3, "c")
	ev := wiretest.Intrusion{Device: 3, EventID: 2, Host: "h"}.Record(85, 1700000000)
	items := func(extra ...wiretest.Item) []wiretest.Item { return append([]wiretest.Item{a}, append(extra, c)...) }
	longer, shorter := ev, ev
	longer.LengthDelta, shorter.LengthDelta = 4, -1
	cases := []struct {
		name    string
		msg     []byte
		kept    []uint32 // ids of the IDName items kept
		skipped SkippedWant
	}{
		{"record length 4 over the item", wiretest.BundleMessage(1, 1, items(longer)...), []uint32{1, 3},
			SkippedWant{index: 1, offset: 8 + 8 + len(a.EventData()), rec: 400, want: "does not fit the Event Data body length"}},
		{"record length 1 under the item", wiretest.BundleMessage(1, 1, items(shorter)...), []uint32{1, 3},
			SkippedWant{index: 1, offset: 8 + 8 + len(a.EventData()), rec: 400, want: "does not fit"}},
		{"item too short for a record header", func() []byte {
			body := wire.AppendBundleHeader(nil, 1, 1)
			body = wire.AppendBundleItem(body, a.EventData())
			body = wire.AppendBundleItem(body, []byte{0, 0, 1, 0x90})
			body = wire.AppendBundleItem(body, c.EventData())
			return wire.AppendMessage(nil, wire.TypeMessageBundle, body)
		}(), []uint32{1, 3}, SkippedWant{index: 1, offset: 8 + 8 + len(a.EventData()), rec: 400, want: "shorter than the 8-byte record header"}},
		{"item of type 1 ends the framing", func() []byte {
			b := wiretest.BundleMessage(1, 1, items(ev)...)
			b[8+8+8+len(a.EventData())+3] = 1
			return b
		}(), []uint32{1}, SkippedWant{index: 1, offset: 8 + 8 + len(a.EventData()), rec: 400, rest: true, want: "has message type 1, want 4"}},
		{"item longer than the bundle", func() []byte {
			b := wiretest.BundleMessage(1, 1, items()...)
			b[8+8+8+len(a.EventData())+6] = 0xff
			return b
		}(), []uint32{1}, SkippedWant{index: 1, offset: 8 + 8 + len(a.EventData()), rec: 123, rest: true, want: "exceeds the"}},
		{"trailing partial item", func() []byte {
			b := wiretest.BundleMessage(1, 1, a)
			b = append(b, 0, 0, 0, 4)
			b[7] += 4
			return b
		}(), []uint32{1}, SkippedWant{index: 1, offset: 8 + 8 + len(a.EventData()), rest: true, want: "too short for an item header"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := wire.NewReader(bytes.NewReader(tc.msg)).Next()
			if err != nil {
				t.Fatal(err)
			}
			b, err := wire.ParseBundle(m.Body, nil)
			if err != nil {
				t.Fatal(err)
			}
			var kept []uint32
			for _, ed := range b.Items {
				if rec, err := wire.DecodeRecord(ed); err == nil {
					kept = append(kept, rec.(*wire.IDName).ID)
				}
			}
			if fmt.Sprint(kept) != fmt.Sprint(tc.kept) {
				t.Errorf("kept %v, want %v", kept, tc.kept)
			}
			if len(b.Skipped) != 1 {
				t.Fatalf("skipped %+v", b.Skipped)
			}
			sk, w := b.Skipped[0], tc.skipped
			if sk.Index != w.index || sk.Offset != w.offset || sk.RecordType != w.rec || sk.Rest != w.rest ||
				!errors.Is(sk.Err, wire.ErrMalformed) || !strings.Contains(sk.Err.Error(), w.want) {
				t.Errorf("skipped %+v (%v), want %+v", sk, sk.Err, w)
			}
			if !sk.Rest && sk.Offset+sk.Length >= len(m.Body) {
				t.Errorf("skipped item of %d bytes at %d runs to the end of the %d-byte bundle", sk.Length, sk.Offset, len(m.Body))
			}
		})
	}
}

// SkippedWant is what TestBundleSkipsBadItems expects; offset is in the
// bundle body (bundle header 8, item header 8, then the first item).
type SkippedWant struct {
	index, offset int
	rec           uint32
	rest          bool
	want          string
}

// TestOversizeMessageSkipped: a message over the limit is read past and
// reported; the next message is read normally. A body cut short is a
// read error, not a skip.
func TestOversizeMessageSkipped(t *testing.T) {
	big := wiretest.BundleMessage(1, 1, wiretest.IDNameRecord(123, 1, strings.Repeat("x", 2000)))
	next := wiretest.NullMessage()
	r := wire.NewReader(bytes.NewReader(append(append([]byte(nil), big...), next...)))
	r.Max = 1024
	_, err := r.Next()
	var oe *wire.OversizeError
	if !errors.As(err, &oe) || oe.Type != wire.TypeMessageBundle || oe.Length != uint32(len(big)-8) || !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("got %v", err)
	}
	if m, err := r.Next(); err != nil || m.Type != wire.TypeNull {
		t.Fatalf("after the skip: %+v %v", m, err)
	}
	r = wire.NewReader(bytes.NewReader([]byte{0, 1, 0, 4, 0xff, 0, 0, 0, 1, 2}))
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated oversize body: %v", err)
	}
}

func TestMalformedRecords(t *testing.T) {
	shortString := func() []byte {
		// Zone name record whose string block claims 4 bytes (< its 8-byte header).
		it := wiretest.UUIDNameRecord(115, "ed81dc4e-3444-11eb-a581-703a42c735fb", "inside")
		it.Data[8+16+7] = 4
		return it.Data
	}()
	intr := wiretest.Intrusion{Device: 1, Host: "h"}.Record(85, 1).Data
	cases := []struct {
		name string
		rec  uint32
		data []byte
		is   error
		want string
	}{
		{"string block shorter than header", 115, shortString, wire.ErrMalformed, "shorter than its 8-byte header"},
		{"intrusion truncated", 400, intr[:len(intr)-3], wire.ErrMalformed, "block length"},
		{"intrusion string overruns", 400, func() []byte {
			d := append([]byte(nil), intr...)
			d[283+7] = 0xff // ingressVRFName length
			return d
		}(), wire.ErrMalformed, "exceeds the"},
		{"intrusion unknown block", 400, append([]byte{0, 0, 0, 99}, intr[4:]...), wire.ErrUnknownBlock, "intrusion block 99"},
		{"unknown record", 4242, []byte{1, 2, 3}, wire.ErrUnknownRecord, "record 4242"},
		{"packet length mismatch", 2, func() []byte {
			d := wiretest.PacketRecord(1, 2, 3, 4, 5, 1, []byte{1, 2, 3, 4}, 0).Data
			d[27] = 9
			return d
		}(), wire.ErrMalformed, "packet length 9"},
		{"connection block trailing bytes", 71, append(wiretest.ConnectionRecord(1, 160, nil, 0).Data, 0), wire.ErrMalformed, "bytes follow"},
		{"priority name overruns", 4, []byte{0, 0, 0, 1, 0, 9, 'a'}, wire.ErrMalformed, "needs 9 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := wire.DecodeRecord(wire.EventData{RecordType: c.rec, Data: c.data})
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %v containing %q", err, c.is, c.want)
			}
		})
	}
}

func TestReaderEOF(t *testing.T) {
	if _, err := wire.NewReader(bytes.NewReader(nil)).Next(); err != io.EOF {
		t.Fatalf("empty stream: %v", err)
	}
	if _, err := wire.NewReader(bytes.NewReader([]byte{0, 1, 0})).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("partial header: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	for in, want := range map[string]uint32{
		"0x48900061": 0x48900061,
		"packet, impact, intrusion, metadata, archive_timestamps, extra_data, extended": 0x48900061,
		"bit2,bit23": 1<<2 | 1<<23,
	} {
		if got, err := wire.ParseFlags(in); err != nil || got != want {
			t.Errorf("%q: %#x %v", in, got, err)
		}
	}
	if _, err := wire.ParseFlags("packets"); err == nil {
		t.Error("unknown flag accepted")
	}
}
