package wire

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

// Event Data bodies (type-4 bodies, no message header) built by wiretest
// and decoded by eNcore 5.1.2's own decoder (estreamer.adapters.binary
// loads, as in reference §9 item 3) to exactly the values checked below,
// with no warning: correlation event 112/block 156, IoC set 160 with its
// discovery header, metadata 69, 70, 161, 280, 120, and extra data 110.
var encoreVectors = map[string]string{
	"correlation112": "00000070000001c86553f10b000000000000009c000001c8000000036553f10a0000004d000000040000000500000002000000000000001e45542054524f4a414e20626561636f6e207365656e000100000003001e8481000000016553f1000003d090000000650000ffff070608000000000001000a0000000000000000000000000000000000020000004dc738000000090000000000000a0000000000000000000000000000000000030098967d01bb000002a401011111111122223333444455555555555500000002000000000000000c575330310000000d00000004000000000000002268747470733a2f2f6576696c2e6578616d706c652e636f6d2f780000027e000000000000000b312e32aaaaaaaabbbbccccddddeeeeeeeeeeee100000000000000000000000000000000000000000000000000000000000000000000000ed81dc4e344411eba581703a42c735fb0000000000000000000000000000000000000000000000000000ffff0a01020320010db8000000000000000000000001034801149999999988887777666655555555555500000000000000000000000000000000000000000000000000000000000000000000000700000001000000020000000000000000000000000000000000000000",
	"ioc160":         "000000a0000000446553f11500000000000000030000000000000000000001006553f11400000000000003f000000001000000000000000000000000000000000000ffff0a090807000000070000000c0000000c",
	"corrPolicy69":   "0000004500000047000000040011436f6d70726f6d6973656420686f737473000e64657363206f6620706f6c6963790000000000000000000000000000000000000000000000000000000000000000",
	"corrRule70":     "000000460000006000000005000b426561636f6e2072756c65000c64657363206f662072756c65000f696e74727573696f6e206576656e74000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
	"iocName161":     "000000a10000003200000027000000320000000c0000000000000015436e4320436f6e6e6563746564000000000000001145542054524f4a414e",
	"siCategory280":  "000001180000002b000000160000002b00000003aaaaaaaabbbbccccddddeeeeeeeeeeee000000000000000f4d616c77617265",
	"acAction120":    "000000780000000d0000000200000005426c6f636b",
	"extraData110":   "0000006e000000306553f10100000000000000040000003000000003000000656553f1000000000a0000000a000000186576696c2e6578616d706c652e636f6d",
}

func decodeVector(t *testing.T, name string) (EventData, Record) {
	t.Helper()
	b, err := hex.DecodeString(encoreVectors[name])
	if err != nil {
		t.Fatal(err)
	}
	ed, err := ParseEventData(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	rec, err := DecodeRecord(ed)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ed, rec
}

func TestEncoreCorrelationEvent(t *testing.T) {
	ed, rec := decodeVector(t, "correlation112")
	c, ok := rec.(CorrelationEvent)
	if !ok || ed.ArchiveTimestamp != 1700000011 {
		t.Fatalf("%T %+v", rec, ed)
	}
	want := map[string]uint64{"blockLength": 456, "deviceId": 3, "correlationEventSecond": 1700000010, "eventId": 77,
		"policyId": 4, "ruleId": 5, "priority": 2, "eventType": 1, "signatureId": 2000001, "signatureGeneratorId": 1,
		"triggerEventSecond": 1700000000, "triggerEventMicrosecond": 250000, "deviceEventId": 101,
		"eventDefinedMask": 65535, "eventImpactFlags": 7, "ipProtocol": 6, "networkProtocol": 2048,
		"sourceHostType": 1, "sourceVlanId": 10, "sourceCriticality": 2, "sourceUserId": 77, "sourcePort": 51000,
		"sourceServerId": 9, "destinationCriticality": 3, "destinationUserId": 9999997, "destinationPort": 443,
		"destinationServerId": 676, "impact": 1, "blocked": 1, "ruleAction": 2, "urlCategory": 13, "urlReputation": 4,
		"clientId": 638, "accessControlRuleId": 268435456, "sourceCountry": 840, "destinationCountry": 276,
		"sslRuleId": 7, "sslActualAction": 1, "sslFlowStatus": 2}
	for f, v := range want {
		if got := c.Uint(f); got != v {
			t.Errorf("%s = %d, want %d", f, got, v)
		}
	}
	for f, v := range map[string]string{"eventDescription": "ET TROJAN beacon seen", "netbios": "WS01",
		"url": "https://evil.example.com/x", "clientVersion": "1.2"} {
		if got := c.Str(f); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if c.IP("sourceIpv6Address") != netip.MustParseAddr("10.1.2.3") || c.IP("destinationIpv6Address") != netip.MustParseAddr("2001:db8::1") ||
		c.UUID("intrusionPolicy") != "11111111-2222-3333-4444-555555555555" ||
		c.UUID("accessControlPolicyRevision") != "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" ||
		c.UUID("ingressZoneUuid") != "ed81dc4e-3444-11eb-a581-703a42c735fb" ||
		c.UUID("securityIntelligenceUuid") != "99999999-8888-7777-6666-555555555555" {
		t.Errorf("addresses/uuids: %s", mustJSON(t, c.Block))
	}
}

func TestEncoreIOCEvent(t *testing.T) {
	ed, rec := decodeVector(t, "ioc160")
	e, ok := rec.(IOCEvent)
	if !ok || ed.ArchiveTimestamp != 1700000021 || e.Header.DeviceID != 3 || e.Header.EventType != 1008 ||
		e.Header.EventSecond != 1700000020 || e.Header.IPv6 != netip.MustParseAddr("10.9.8.7") || e.U32("iocId") != 12 {
		t.Fatalf("%T %+v %s", rec, e.Header, mustJSON(t, e.Block))
	}
}

func TestEncoreMetadata(t *testing.T) {
	if _, rec := decodeVector(t, "corrPolicy69"); *rec.(*CorrelationPolicy) != (CorrelationPolicy{ID: 4, Name: "Compromised hosts", Description: "desc of policy"}) {
		t.Errorf("69: %+v", rec)
	}
	if _, rec := decodeVector(t, "corrRule70"); *rec.(*CorrelationRule) != (CorrelationRule{ID: 5, Name: "Beacon rule", Description: "desc of rule", EventType: "intrusion event"}) {
		t.Errorf("70: %+v", rec)
	}
	if _, rec := decodeVector(t, "iocName161"); *rec.(*IOCName) != (IOCName{ID: 12, Category: "CnC Connected", EventType: "ET TROJAN"}) {
		t.Errorf("161: %+v", rec)
	}
	if _, rec := decodeVector(t, "siCategory280"); *rec.(*SICategory) != (SICategory{ID: 3, PolicyUUID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", Name: "Malware"}) {
		t.Errorf("280: %+v", rec)
	}
	if _, rec := decodeVector(t, "acAction120"); *rec.(*IDName) != (IDName{Record: 120, ID: 2, Name: "Block"}) {
		t.Errorf("120: %+v", rec)
	}
	_, rec := decodeVector(t, "extraData110")
	x := rec.(ExtraData)
	if x.U32("deviceId") != 3 || x.U32("eventId") != 101 || x.U32("eventSecond") != 1700000000 || x.U32("type") != 10 ||
		string(x.Bytes("blob")) != "evil.example.com" {
		t.Errorf("110: %s", mustJSON(t, x.Block))
	}
}
