package wiretest

import (
	"encoding/binary"
	"net/netip"

	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// Item is one record to put in a bundle or Event Data message.
type Item struct {
	RecordType uint32
	Extended   bool   // include the archive-timestamp header
	ArchiveTS  uint32 // archive timestamp when Extended
	Data       []byte // record data
	// LengthDelta, when not zero, is added to the record length field, so
	// the record header disagrees with the item (or message) length.
	LengthDelta int
}

// EventData returns the Event Data body of the item.
func (it Item) EventData() []byte {
	b := wire.AppendEventData(nil, it.RecordType, it.Extended, it.ArchiveTS, it.Data)
	if it.LengthDelta != 0 {
		binary.BigEndian.PutUint32(b[4:], uint32(len(it.Data)+it.LengthDelta))
	}
	return b
}

// EventMessage frames the item as a standalone type-4 message.
func (it Item) EventMessage() []byte {
	return wire.AppendMessage(nil, wire.TypeEventData, it.EventData())
}

// BundleMessage frames items as a type-4002 message.
func BundleMessage(connID, seq uint32, items ...Item) []byte {
	body := wire.AppendBundleHeader(nil, connID, seq)
	for _, it := range items {
		body = wire.AppendBundleItem(body, it.EventData())
	}
	return wire.AppendMessage(nil, wire.TypeMessageBundle, body)
}

// ErrorMessage frames an Error message.
func ErrorMessage(code int32, text string) []byte {
	return wire.AppendMessage(nil, wire.TypeError, wire.AppendError(nil, code, text))
}

// NullMessage is a framed Null.
func NullMessage() []byte { return wire.AppendMessage(nil, wire.TypeNull, nil) }

// StreamingInfoMessage frames a 2051 advertising the given service ids.
func StreamingInfoMessage(ids ...uint32) []byte {
	var s []wire.Service
	for _, id := range ids {
		s = append(s, wire.Service{ID: id})
	}
	return wire.AppendMessage(nil, wire.TypeStreamingInformation, wire.AppendStreamingInformation(nil, s))
}

// Intrusion describes an intrusion event for Intrusion85 and friends.
type Intrusion struct {
	Device, EventID, Second, Micro uint32
	GID, SID, Rev                  uint32
	Class, Priority                uint32
	Src, Dst                       string
	SrcPort, DstPort               uint16
	Proto                          uint8
	Blocked                        uint8
	UserID                         uint32
	AppID                          uint32
	IngressZone                    string
	Host, URI                      string
}

// Values returns the encoder values of the event.
func (e Intrusion) Values() V {
	return V{
		"deviceId": e.Device, "eventId": e.EventID, "eventSecond": e.Second,
		"eventMicrosecond": e.Micro, "ruleId": e.SID, "generatorId": e.GID,
		"ruleRevision": e.Rev, "classificationId": e.Class, "priorityId": e.Priority,
		"sourceIpAddress": e.Src, "destinationIpAddress": e.Dst,
		"sourcePortOrIcmpType": e.SrcPort, "destinationPortOrIcmpType": e.DstPort,
		"ipProtocolId": e.Proto, "blocked": e.Blocked, "userId": e.UserID,
		"applicationId": e.AppID, "securityZoneIngressUuid": nonEmpty(e.IngressZone),
		"httpHostname": e.Host, "httpURI": e.URI, "snortVersion": uint8(3),
		"originalSrcIP": "0.0.0.0",
	}
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Record returns the event as a record-400 item with the given block type.
func (e Intrusion) Record(block uint32, archiveTS uint32) Item {
	return Item{RecordType: wire.RecIntrusion, Extended: true, ArchiveTS: archiveTS,
		Data: MustBlock("intrusion", block, e.Values())}
}

// PacketRecord builds a record-2 item.
func PacketRecord(device, eventID, eventSec, pktSec, pktUsec, linkType uint32, data []byte, archiveTS uint32) Item {
	var d []byte
	for _, v := range []uint32{device, eventID, eventSec, pktSec, pktUsec, linkType, uint32(len(data))} {
		d = binary.BigEndian.AppendUint32(d, v)
	}
	d = append(d, data...)
	return Item{RecordType: wire.RecPacket, Extended: true, ArchiveTS: archiveTS, Data: d}
}

// IDNameRecord builds a table-D metadata item (e.g. 123 device name).
func IDNameRecord(rec, id uint32, name string) Item {
	d := binary.BigEndian.AppendUint32(nil, id)
	d = binary.BigEndian.AppendUint32(d, uint32(len(name)))
	return Item{RecordType: rec, Data: append(d, name...)}
}

// PriorityRecord builds record 4.
func PriorityRecord(id uint32, name string) Item {
	d := binary.BigEndian.AppendUint32(nil, id)
	d = binary.BigEndian.AppendUint16(d, uint16(len(name)))
	return Item{RecordType: wire.RecPriority, Data: append(d, name...)}
}

// RuleMessageRecord builds record 66.
func RuleMessageRecord(gid, sid, rev uint32, msg string) Item {
	var d []byte
	for _, v := range []uint32{gid, sid, rev, sid} {
		d = binary.BigEndian.AppendUint32(d, v)
	}
	d = binary.BigEndian.AppendUint16(d, uint16(len(msg)))
	d = append(d, make([]byte, 32)...)
	return Item{RecordType: wire.RecRuleMessage, Data: append(d, msg...)}
}

// ClassificationRecord builds record 67.
func ClassificationRecord(id uint32, name, desc string) Item {
	d := binary.BigEndian.AppendUint32(nil, id)
	d = binary.BigEndian.AppendUint16(d, uint16(len(name)))
	d = append(d, name...)
	d = binary.BigEndian.AppendUint16(d, uint16(len(desc)))
	d = append(d, desc...)
	d = append(d, make([]byte, 32)...)
	return Item{RecordType: wire.RecClassification, Data: d}
}

// UUIDNameRecord builds a block-14 record (115 zone, 116 interface, ...).
func UUIDNameRecord(rec uint32, uuid, name string) Item {
	u, _ := UUIDBytes(uuid)
	payload := append(u[:], wire.AppendString(nil, name)...)
	d := wire.AppendBlockHeader(nil, 14, len(payload))
	return Item{RecordType: rec, Data: append(d, payload...)}
}

// UserRecord builds record 98 (block 57).
func UserRecord(id uint32, name string) Item {
	p := binary.BigEndian.AppendUint32(nil, id)
	p = binary.BigEndian.AppendUint32(p, 0)
	p = wire.AppendString(p, name+"\x00")
	d := wire.AppendBlockHeader(nil, 57, len(p))
	return Item{RecordType: wire.RecRUAUser, Data: append(d, p...)}
}

// discoveryHeader is a 56-byte discovery event header (has-IPv6 set) for
// device, event type/subtype, second and host address.
func discoveryHeader(device, evType, subtype, second uint32, host string) []byte {
	h := binary.BigEndian.AppendUint32(nil, device)
	h = append(h, make([]byte, 4+6)...)
	h = append(h, 1, 0)
	h = binary.BigEndian.AppendUint32(h, second)
	h = binary.BigEndian.AppendUint32(h, 0)
	h = binary.BigEndian.AppendUint32(h, evType)
	h = binary.BigEndian.AppendUint32(h, subtype)
	h = append(h, make([]byte, 8)...)
	a := netip.IPv6Unspecified()
	if host != "" {
		a = netip.MustParseAddr(host)
	}
	b := a.As16()
	return append(h, b[:]...)
}

// CorrelationRecord builds record 112 (correlation event, block 156).
func CorrelationRecord(v V, archiveTS uint32) Item {
	return Item{RecordType: wire.RecCorrelation, Extended: true, ArchiveTS: archiveTS,
		Data: MustBlock("correlation", 156, v)}
}

// IOCRecord builds record 160: a discovery header (event type 1008) for
// the host, then the integer block with the IoC id.
func IOCRecord(device, iocID, second uint32, host string, archiveTS uint32) Item {
	d := discoveryHeader(device, 1008, 1, second, host)
	return Item{RecordType: wire.RecIOC, Extended: true, ArchiveTS: archiveTS,
		Data: append(d, MustBlock("ioc", 7, V{"iocId": iocID})...)}
}

// ExtraDataRecord builds record 110 (block 4): extra data of an intrusion
// event, e.g. type 9 (HTTP URI) or 10 (HTTP hostname).
func ExtraDataRecord(device, eventID, eventSec, typ uint32, blob []byte, archiveTS uint32) Item {
	return Item{RecordType: wire.RecExtraData, Extended: true, ArchiveTS: archiveTS,
		Data: MustBlock("extra_data", 4, V{"deviceId": device, "eventId": eventID, "eventSecond": eventSec,
			"type": typ, "blob": blob})}
}

func len16Strings(d []byte, ss ...string) []byte {
	for _, s := range ss {
		d = binary.BigEndian.AppendUint16(d, uint16(len(s)))
		d = append(d, s...)
	}
	return d
}

// CorrelationPolicyRecord builds record 69.
func CorrelationPolicyRecord(id uint32, name, desc string) Item {
	d := len16Strings(binary.BigEndian.AppendUint32(nil, id), name, desc)
	return Item{RecordType: wire.RecCorrPolicy, Data: append(d, make([]byte, 32)...)}
}

// CorrelationRuleRecord builds record 70.
func CorrelationRuleRecord(id uint32, name, desc, eventType string) Item {
	d := len16Strings(binary.BigEndian.AppendUint32(nil, id), name, desc, eventType)
	return Item{RecordType: wire.RecCorrRule, Data: append(d, make([]byte, 48)...)}
}

// IOCNameRecord builds record 161 (series-2 block 39).
func IOCNameRecord(id uint32, category, eventType string) Item {
	p := binary.BigEndian.AppendUint32(nil, id)
	p = wire.AppendString(p, category)
	p = wire.AppendString(p, eventType)
	return Item{RecordType: wire.RecIOCName, Data: append(wire.AppendBlockHeader(nil, 39, len(p)), p...)}
}

// SICategoryRecord builds record 280 (series-2 block 22).
func SICategoryRecord(id uint32, policyUUID, name string) Item {
	u, _ := UUIDBytes(policyUUID)
	p := binary.BigEndian.AppendUint32(nil, id)
	p = append(p, u[:]...)
	p = wire.AppendString(p, name)
	return Item{RecordType: wire.RecSICategory, Data: append(wire.AppendBlockHeader(nil, 22, len(p)), p...)}
}

// ConnectionRecord builds record 71 with a discovery header (has-IPv6 set,
// zero address, as a real FMC sends) and the given connection block.
func ConnectionRecord(device uint32, block uint32, v V, archiveTS uint32) Item {
	h := discoveryHeader(device, 1003, 1, 0, "")
	return Item{RecordType: wire.RecConnection, Extended: true, ArchiveTS: archiveTS,
		Data: append(h, MustBlock("connection", block, v)...)}
}

// FileRecord builds record 500/502 with block 56.
func FileRecord(rec uint32, v V, archiveTS uint32) Item {
	return Item{RecordType: rec, Extended: true, ArchiveTS: archiveTS, Data: MustBlock("file", 56, v)}
}

// Addr is netip.MustParseAddr, for fixtures.
func Addr(s string) netip.Addr { return netip.MustParseAddr(s) }
