package wire_test

import (
	"bytes"
	"errors"
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
		{"length beyond limit", []byte{0, 1, 0, 4, 0xff, 0, 0, 0}, "exceeds the limit"},
		{"bundle item of type 1", func() []byte {
			b := append([]byte(nil), good...)
			b[8+8+3] = 1
			return b
		}(), "has message type 1, want 4"},
		{"bundle item longer than bundle", func() []byte {
			b := append([]byte(nil), good...)
			b[8+8+7] += 4
			return b
		}(), "exceeds the"},
		{"record length mismatch", wire.AppendMessage(nil, wire.TypeMessageBundle,
			wire.AppendBundleItem(wire.AppendBundleHeader(nil, 1, 1),
				[]byte{0, 0, 0, 123, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0})), "does not fit the Event Data body length"},
		{"trailing partial item", wire.AppendMessage(nil, wire.TypeMessageBundle, append(wire.AppendBundleHeader(nil, 1, 1), 0, 0, 0, 4)), "too short for an item header"},
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
