package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// Test vectors TV1–TV23 of reference §8, verbatim.
var tv = map[string]string{
	"TV1":   "0001000000000000",
	"TV2":   "00010002000000080000000048900061",
	"TV3":   "0001000200000008ffffffff48900061",
	"TV4":   "00010002000000085fc7b42648900061",
	"TV5":   "00010002000000080000000000900041",
	"TV6":   "0001080300000030000013890000000800000000000000000000138800000008000000000000000000001a0b000000080000000000000000",
	"TV7":   "000108010000003800001a0b000000384890006100000000000b000c000400150009001f000b003d001100470007005b000800650007006f0002008300000000",
	"TV8":   "000108010000003800001a0b0000003848900061000000000009000c000400150009001f000b003d000e00470004005b000700650006006f0002008300000000",
	"TV9":   "000108010000001c00001a0b000000144000000000000000000600470004001500000000",
	"TV10":  "000100010000000bffffffff000568656c6c6f",
	"TV11":  "000100010000000f0000001300094e6f20737061636500",
	"TV12":  "00010004000000190000007b00000011000000010000000953656e736f72313838",
	"TV13":  "0001000400000012000000040000000a00000001000468696768",
	"TV14":  "0001000400000043000000420000003b00000001001e848100000007001e848100090123c0de00004000800000000000000100000000000000000000000000000000544553542052554c45",
	"TV15":  "000100040000005d000000430000005500000005000f74726f6a616e2d6163746976697479001e41204e6574776f726b2054726f6a616e207761732044657465637465642e0123c0de00004000800000000000000200000000000000000000000000000000",
	"TV16":  "000100040000002f00000073000000270000000e00000027ed81dc4e344411eba581703a42c735fb000000000000000f696e7369646500",
	"TV17":  "000100040000003000000002000000206553f10500000000000000030001e2406553f1006553f1000003d0900000000100000004deadbeef",
	"TV18":  "000100040000012a000001900000011a6553f105000000000000003c0000011a000000030001e2406553f1000003d090001e84810000000100000007000000050000000200000000000000000000ffff0a01020320010db8000000000000000000000001c73801bb060000010000000000000000111111112222333344445555555555550098967f00000000000000000000046210000000aaaaaaaabbbbccccddddeeeeeeeeeeee000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000006553f0f60006002a0348000000000000000000000000000000000000000000000000000000000000000000000000000000000000000099999999888877776666555555555555000000c8",
	"TV19":  "000100040000019e000001900000018e6553f10500000000000000550000018e000000030001e2406553f1000003d090001e84810000000100000007000000050000000200000000000000000000ffff0a01020320010db8000000000000000000000001c73801bb06000001000000000000000000111111112222333344445555555555550098967f00000000000000000000046210000000aaaaaaaabbbbccccddddeeeeeeeeeeee000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000006553f0f60006002a0348000000000000000000000000000000000000000000000000000000000000000000000000000000000000000099999999888877776666555555555555000000c8000000000000000e476c6f62616c000000000000000e476c6f62616c0300000000000000000000ffff0000000000000000000000136578616d706c652e636f6d00000000000000132f696e6465782e68746d6c0000000000000008000000000000000800000000000000080000000000000008",
	"TV20":  "00010fa2000000285fc831ed0000000100000004000000180000005a0000001000000000000000084465746563746f72",
	"TV21a": "000000000000000b616263",
	"TV21b": "0000000000000008",
	// TV22 is only the first 96 of 692 bytes of a real connection event.
	"TV22": "00010004000002ac" + "000000470000029c5fc7b42600000000" +
		"000000010000000000000000000001000000000000000000000003eb00000001fcfac65f1f5e0100" +
		"00000000000000000000000000000000" + "000000a00000026400000001ed81dc4e",
	"TV23": "0001000400000035000001400000002d0000003d0000002d00000001000000000000000a410000000000000000176120686f7374206164647265737300",
}

func unhex(t testing.TB, name string) []byte {
	t.Helper()
	b, err := hex.DecodeString(tv[name])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// readOne reads exactly one message from the vector and checks that
// nothing follows it.
func readOne(t *testing.T, name string) Message {
	t.Helper()
	r := NewReader(bytes.NewReader(unhex(t, name)))
	m, err := r.Next()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	m.Body = append([]byte(nil), m.Body...)
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("%s: want EOF after one message, got %v", name, err)
	}
	return m
}

func eventRecord(t *testing.T, name string) (EventData, Record) {
	t.Helper()
	m := readOne(t, name)
	if m.Type != TypeEventData {
		t.Fatalf("%s: type %d", name, m.Type)
	}
	ed, err := ParseEventData(m.Body)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	rec, err := DecodeRecord(ed)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ed, rec
}

func TestVectorsRequests(t *testing.T) {
	if DefaultFlags != 0x48900061 {
		t.Fatalf("DefaultFlags = %#x", DefaultFlags)
	}
	for _, c := range []struct {
		tv    string
		ts    uint32
		flags uint32
	}{
		{"TV2", 0, 0x48900061},
		{"TV3", TimestampNow, 0x48900061},
		{"TV4", 1606923302, 0x48900061},
		{"TV5", 0, FlagPacketData | FlagIntrusion | FlagMetadata | FlagArchiveTimestamp},
	} {
		m := readOne(t, c.tv)
		req, err := ParseEventStreamRequest(m.Body)
		if err != nil || m.Type != TypeEventStreamRequest || req.InitialTimestamp != c.ts || req.Flags != c.flags {
			t.Errorf("%s: type %d req %+v err %v", c.tv, m.Type, req, err)
		}
		enc := AppendMessage(nil, TypeEventStreamRequest, EventStreamRequest{c.ts, c.flags}.Append(nil))
		if hex.EncodeToString(enc) != tv[c.tv] {
			t.Errorf("%s: encoded %x", c.tv, enc)
		}
	}
	if m := readOne(t, "TV1"); m.Type != TypeNull || len(m.Body) != 0 {
		t.Errorf("TV1: %+v", m)
	}
	var buf bytes.Buffer
	if err := WriteNull(&buf); err != nil || hex.EncodeToString(buf.Bytes()) != tv["TV1"] {
		t.Errorf("WriteNull: %x %v", buf.Bytes(), err)
	}
}

func TestVectorsStreaming(t *testing.T) {
	m := readOne(t, "TV6")
	svcs, err := ParseStreamingInformation(m.Body)
	if err != nil || m.Type != TypeStreamingInformation {
		t.Fatalf("TV6: %v", err)
	}
	if len(svcs) != 3 || svcs[0].ID != 5001 || svcs[1].ID != 5000 || svcs[2].ID != 6667 {
		t.Fatalf("TV6: %+v", svcs)
	}
	if got := hex.EncodeToString(AppendMessage(nil, TypeStreamingInformation, AppendStreamingInformation(nil, svcs))); got != tv["TV6"] {
		t.Errorf("TV6 re-encoded %s", got)
	}

	req := StreamingRequest{Service: ServiceEStreamer, Flags: DefaultFlags, Events: DefaultEventVersions}
	if got := hex.EncodeToString(AppendMessage(nil, TypeStreamingRequest, req.Append(nil))); got != tv["TV7"] {
		t.Errorf("TV7: encoded %s", got)
	}
	m = readOne(t, "TV8")
	r8, err := ParseStreamingRequest(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	want8 := []EventVersion{{12, 9}, {21, 4}, {31, 9}, {61, 11}, {71, 14}, {91, 4}, {101, 7}, {111, 6}, {131, 2}}
	if r8.Service != 6667 || r8.Flags != 0x48900061 || r8.Convention != LengthIncludingHeader || !equalEV(r8.Events, want8) {
		t.Errorf("TV8: %+v", r8)
	}
	m = readOne(t, "TV9")
	r9, err := ParseStreamingRequest(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if r9.Flags != FlagExtended || r9.Convention != LengthExcludingHeader || !equalEV(r9.Events, []EventVersion{{71, 6}, {21, 4}}) {
		t.Errorf("TV9: %+v", r9)
	}
	if got := hex.EncodeToString(AppendMessage(nil, TypeStreamingRequest, r9.Append(nil))); got != tv["TV9"] {
		t.Errorf("TV9 re-encoded %s", got)
	}
}

func equalEV(a, b []EventVersion) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestVectorsErrors(t *testing.T) {
	if got := hex.EncodeToString(AppendMessage(nil, TypeError, AppendError(nil, -1, "hello"))); got != tv["TV10"] {
		t.Errorf("TV10 encoded %s", got)
	}
	e, err := ParseError(readOne(t, "TV10").Body)
	if err != nil || e.Code != -1 || e.Text != "hello" {
		t.Errorf("TV10: %+v %v", e, err)
	}
	e, err = ParseError(readOne(t, "TV11").Body)
	if err != nil || e.Code != 19 || e.Text != "No space" {
		t.Errorf("TV11: %+v %v", e, err)
	}
	bad := readOne(t, "TV11").Body
	bad[5] = 0x0a
	if _, err := ParseError(bad); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "text length 10") {
		t.Errorf("TV11 with length 000a: %v", err)
	}
}

func TestVectorsMetadata(t *testing.T) {
	ed, rec := eventRecord(t, "TV12")
	if ed.Extended || ed.RecordType != 123 {
		t.Errorf("TV12 header %+v", ed)
	}
	if d, ok := rec.(*IDName); !ok || d.ID != 1 || d.Name != "Sensor188" {
		t.Errorf("TV12: %#v", rec)
	}
	if _, rec = eventRecord(t, "TV13"); *rec.(*Priority) != (Priority{1, "high"}) {
		t.Errorf("TV13: %#v", rec)
	}
	_, rec = eventRecord(t, "TV14")
	if m := rec.(*RuleMessage); *m != (RuleMessage{GeneratorID: 1, RuleID: 2000001, RuleRevision: 7, SignatureID: 2000001,
		RuleUUID: "0123c0de-0000-4000-8000-000000000001", Message: "TEST RULE"}) {
		t.Errorf("TV14: %#v", m)
	}
	_, rec = eventRecord(t, "TV15")
	if c := rec.(*Classification); *c != (Classification{ID: 5, Name: "trojan-activity",
		Description: "A Network Trojan was Detected.", UUID: "0123c0de-0000-4000-8000-000000000002"}) {
		t.Errorf("TV15: %#v", c)
	}
	_, rec = eventRecord(t, "TV16")
	if z := rec.(*UUIDName); *z != (UUIDName{Record: 115, UUID: "ed81dc4e-3444-11eb-a581-703a42c735fb", Name: "inside"}) {
		t.Errorf("TV16: %#v", z)
	}
	_, rec = eventRecord(t, "TV23")
	if d := rec.(*IDNameDescription); *d != (IDNameDescription{Record: 320, ID: 1, Name: "A", Description: "a host address"}) {
		t.Errorf("TV23: %#v", d)
	}
}

func TestVectorPacket(t *testing.T) {
	ed, rec := eventRecord(t, "TV17")
	p := rec.(*Packet)
	if !ed.Extended || ed.ArchiveTimestamp != 1700000005 || p.DeviceID != 3 || p.EventID != 123456 ||
		p.EventSecond != 1700000000 || p.PacketSecond != 1700000000 || p.PacketMicrosecond != 250000 ||
		p.LinkType != 1 || hex.EncodeToString(p.Data) != "deadbeef" {
		t.Errorf("TV17: %+v %+v", ed, p)
	}
}

func checkIntrusionCommon(t *testing.T, name string, e IntrusionEvent) {
	t.Helper()
	nums := map[string]uint64{"deviceId": 3, "eventId": 123456, "eventSecond": 1700000000,
		"eventMicrosecond": 250000, "ruleId": 2000001, "generatorId": 1, "ruleRevision": 7,
		"classificationId": 5, "priorityId": 2, "sourcePortOrIcmpType": 51000,
		"destinationPortOrIcmpType": 443, "ipProtocolId": 6, "blocked": 1, "userId": 9999999,
		"applicationId": 1122, "accessControlRuleId": 268435456, "connectionTimestamp": 1699999990,
		"connectionInstanceId": 6, "connectionCounter": 42, "sourceCountry": 840, "httpResponse": 200}
	for k, v := range nums {
		if got := e.Uint(k); got != v {
			t.Errorf("%s: %s = %d, want %d", name, k, got, v)
		}
	}
	if e.IP("sourceIpAddress") != netip.MustParseAddr("10.1.2.3") || e.IP("destinationIpAddress") != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("%s: addresses %v %v", name, e.IP("sourceIpAddress"), e.IP("destinationIpAddress"))
	}
	for k, v := range map[string]string{"policyUuid": "11111111-2222-3333-4444-555555555555",
		"accessControlPolicyUuid":   "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"networkAnalysisPolicyUuid": "99999999-8888-7777-6666-555555555555"} {
		if got := e.UUID(k); got != v {
			t.Errorf("%s: %s = %q", name, k, got)
		}
	}
}

func TestVectorsIntrusion(t *testing.T) {
	ed, rec := eventRecord(t, "TV18")
	e := rec.(IntrusionEvent)
	if ed.ArchiveTimestamp != 1700000005 || e.U32("blockType") != 60 || e.U32("blockLength") != 282 || e.Has("blockedReasonId") {
		t.Errorf("TV18 header: %+v block %d", ed, e.U32("blockType"))
	}
	checkIntrusionCommon(t, "TV18", e)

	ed, rec = eventRecord(t, "TV19")
	e = rec.(IntrusionEvent)
	if ed.ArchiveTimestamp != 1700000005 || e.U32("blockType") != 85 {
		t.Errorf("TV19 header: %+v", ed)
	}
	checkIntrusionCommon(t, "TV19", e)
	if e.Str("ingressVRFName") != "Global" || e.Str("egressVRFName") != "Global" || e.Uint("snortVersion") != 3 ||
		e.Uint("blockedReasonId") != 0 || e.IP("originalSrcIP") != netip.MustParseAddr("0.0.0.0") ||
		e.Str("httpHostname") != "example.com" || e.Str("httpURI") != "/index.html" ||
		e.Str("smtpFrom") != "" || e.Str("smtpTo") != "" {
		t.Errorf("TV19 tail: %s", mustJSON(t, e.Block))
	}
}

func mustJSON(t *testing.T, b *Block) string {
	j, err := b.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

func TestVectorBundle(t *testing.T) {
	m := readOne(t, "TV20")
	b, err := ParseBundle(m.Body, nil)
	if err != nil || m.Type != TypeMessageBundle {
		t.Fatal(err)
	}
	if b.ConnectionID != 0x5FC831ED || b.Sequence != 1 || len(b.Items) != 1 || b.Items[0].Extended {
		t.Fatalf("TV20: %+v", b)
	}
	rec, err := DecodeRecord(b.Items[0])
	if err != nil {
		t.Fatal(err)
	}
	if d := rec.(*IDName); d.Record != 90 || d.ID != 0 || d.Name != "Detector" {
		t.Errorf("TV20: %+v", d)
	}
}

func TestVectorStrings(t *testing.T) {
	for _, c := range []struct{ tv, want string }{{"TV21a", "abc"}, {"TV21b", ""}} {
		cur := cursor{b: unhex(t, c.tv), what: c.tv}
		s, err := cur.str("s")
		if err != nil || s != c.want || len(cur.b) != 0 {
			t.Errorf("%s: %q %v", c.tv, s, err)
		}
		if got := hex.EncodeToString(AppendString(nil, c.want)); got != tv[c.tv] {
			t.Errorf("%s: encoded %s", c.tv, got)
		}
	}
}

func TestVectorConnectionPrefix(t *testing.T) {
	raw := unhex(t, "TV22")
	// The message is truncated: the reader must say so, not invent data.
	if _, err := NewReader(bytes.NewReader(raw)).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated TV22: %v", err)
	}
	body := raw[8:]
	if _, err := ParseEventData(body); !errors.Is(err, ErrMalformed) {
		t.Fatalf("TV22 partial body: %v", err)
	}
	// Decode what is there: record header, discovery header, block header.
	if rt, rl := be32(body), be32(body[4:]); rt != 71 || rl != 668 || be32(body[8:]) != 1606923302 {
		t.Fatalf("TV22 record header %d %d", rt, rl)
	}
	h, rest, err := ParseDiscoveryHeader(body[16:])
	if err != nil {
		t.Fatal(err)
	}
	if h.DeviceID != 1 || !h.HasIPv6 || h.EventType != 1003 || h.EventSubtype != 1 || h.EventSecond != 0 || !h.IPv6.IsUnspecified() {
		t.Errorf("TV22 discovery header %+v", h)
	}
	if be32(rest) != 160 || be32(rest[4:]) != 612 || be32(rest[8:]) != 1 {
		t.Errorf("TV22 block header %x", rest[:12])
	}
	if _, ok := LayoutFor("connection", 160); !ok {
		t.Fatal("no layout for connection block 160")
	}
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
