package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// Record types decoded by this package (reference §6).
const (
	RecPacket          uint32 = 2
	RecPriority        uint32 = 4
	RecImpactAlert     uint32 = 9
	RecUser            uint32 = 62
	RecRuleMessage     uint32 = 66
	RecClassification  uint32 = 67
	RecCorrPolicy      uint32 = 69
	RecCorrRule        uint32 = 70
	RecConnection      uint32 = 71
	RecRUAUser         uint32 = 98
	RecExtraData       uint32 = 110
	RecCorrelation     uint32 = 112
	RecSecurityZone    uint32 = 115
	RecInterface       uint32 = 116
	RecACPolicy        uint32 = 117
	RecIntrusionPolicy uint32 = 118
	RecACRule          uint32 = 119
	RecDevice          uint32 = 123
	RecMalware         uint32 = 125
	RecIOC             uint32 = 160
	RecIOCName         uint32 = 161
	RecSICategory      uint32 = 280
	RecIntrusion       uint32 = 400
	RecFile            uint32 = 500
	RecFileMalware     uint32 = 502
	RecGeolocation     uint32 = 520
)

// ErrUnknownRecord and ErrUnknownBlock are wrapped when a record or block
// type is not decoded; the caller skips and counts the record. They are
// not ErrMalformed: the data may be fine, it is just not understood.
var (
	ErrUnknownRecord = errors.New("record type not decoded")
	ErrUnknownBlock  = errors.New("block type not decoded")
)

// Record is any decoded record.
type Record interface{ RecordType() uint32 }

// Packet is record 2: packet data of an intrusion event.
type Packet struct {
	DeviceID, EventID, EventSecond  uint32
	PacketSecond, PacketMicrosecond uint32
	LinkType                        uint32
	Data                            []byte
}

func (*Packet) RecordType() uint32 { return RecPacket }

// DiscoveryHeader is the 40/56-byte header of discovery and connection
// records (reference §6.1).
type DiscoveryHeader struct {
	DeviceID         uint32
	LegacyIP         uint32
	MAC              [6]byte
	HasIPv6          bool
	EventSecond      uint32
	EventMicrosecond uint32
	EventType        uint32
	EventSubtype     uint32
	FileNumber       uint32
	FilePosition     uint32
	IPv6             netip.Addr
}

// ParseDiscoveryHeader decodes the header and returns the data after it.
func ParseDiscoveryHeader(data []byte) (DiscoveryHeader, []byte, error) {
	var h DiscoveryHeader
	if len(data) < 40 {
		return h, nil, malformed("discovery header needs 40 bytes, %d left", len(data))
	}
	h.DeviceID = binary.BigEndian.Uint32(data)
	h.LegacyIP = binary.BigEndian.Uint32(data[4:])
	copy(h.MAC[:], data[8:14])
	h.HasIPv6 = data[14] == 1
	h.EventSecond = binary.BigEndian.Uint32(data[16:])
	h.EventMicrosecond = binary.BigEndian.Uint32(data[20:])
	h.EventType = binary.BigEndian.Uint32(data[24:])
	h.EventSubtype = binary.BigEndian.Uint32(data[28:])
	h.FileNumber = binary.BigEndian.Uint32(data[32:])
	h.FilePosition = binary.BigEndian.Uint32(data[36:])
	rest := data[40:]
	if h.HasIPv6 {
		if len(rest) < 16 {
			return h, nil, malformed("discovery header has-IPv6 set but only %d bytes follow", len(rest))
		}
		h.IPv6 = netip.AddrFrom16([16]byte(rest[:16])).Unmap()
		rest = rest[16:]
	}
	return h, rest, nil
}

// IntrusionEvent is record 400 (blocks 41, 60, 81, 85).
type IntrusionEvent struct{ *Block }

func (IntrusionEvent) RecordType() uint32 { return RecIntrusion }

// ConnectionEvent is record 71: a discovery header and one connection
// statistics block (160, 163, 168–171, 173, 174).
type ConnectionEvent struct {
	Header DiscoveryHeader
	*Block
}

func (ConnectionEvent) RecordType() uint32 { return RecConnection }

// FileEvent is record 500 (file event) or 502 (file malware event).
type FileEvent struct {
	Record uint32
	*Block
}

func (f FileEvent) RecordType() uint32 { return f.Record }

// MalwareEvent is record 125 (block 62).
type MalwareEvent struct{ *Block }

func (MalwareEvent) RecordType() uint32 { return RecMalware }

// ExtraData is record 110 (block 4 with a BLOB).
type ExtraData struct{ *Block }

func (ExtraData) RecordType() uint32 { return RecExtraData }

// CorrelationEvent is record 112 (series-1 block 156): an event of an FMC
// correlation policy rule.
type CorrelationEvent struct{ *Block }

func (CorrelationEvent) RecordType() uint32 { return RecCorrelation }

// IOCEvent is record 160: a host's indication of compromise was set. The
// discovery header names the host (its address) and time; the block holds
// the IoC id, named by metadata record 161.
type IOCEvent struct {
	Header DiscoveryHeader
	*Block
}

func (IOCEvent) RecordType() uint32 { return RecIOC }

// ImpactAlert is record 9 (block 153).
type ImpactAlert struct{ *Block }

func (ImpactAlert) RecordType() uint32 { return RecImpactAlert }

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// DecodeRecord decodes the record data of ed. Unknown record types wrap
// ErrUnknownRecord, unknown block versions ErrUnknownBlock, bad data
// ErrMalformed.
func DecodeRecord(ed EventData) (Record, error) {
	d := ed.Data
	if ed.RecordType == RecPacket {
		return decodePacket(d)
	}
	if ev, ok := eventKinds[ed.RecordType]; ok {
		var h DiscoveryHeader
		if ev.discovery {
			var err error
			if h, d, err = ParseDiscoveryHeader(d); err != nil {
				return nil, fmt.Errorf("record %d: %w", ed.RecordType, err)
			}
		}
		blk, err := decodeEventBlock(ev.family, ed.RecordType, d)
		if err != nil {
			return nil, err
		}
		return ev.wrap(ed.RecordType, h, blk), nil
	}
	if r, ok, err := decodeMetadata(ed.RecordType, d); ok {
		return r, err
	}
	return nil, fmt.Errorf("record %d: %w", ed.RecordType, ErrUnknownRecord)
}

// eventKind says how an event record is laid out: an optional
// discovery header, then one block of a layout family.
type eventKind struct {
	family    string
	discovery bool
	wrap      func(rec uint32, h DiscoveryHeader, b *Block) Record
}

var eventKinds = map[uint32]eventKind{
	RecIntrusion: {"intrusion", false, func(_ uint32, _ DiscoveryHeader, b *Block) Record { return IntrusionEvent{b} }},
	RecConnection: {"connection", true, func(_ uint32, h DiscoveryHeader, b *Block) Record {
		return ConnectionEvent{Header: h, Block: b}
	}},
	RecFile:        {"file", false, func(r uint32, _ DiscoveryHeader, b *Block) Record { return FileEvent{Record: r, Block: b} }},
	RecFileMalware: {"file", false, func(r uint32, _ DiscoveryHeader, b *Block) Record { return FileEvent{Record: r, Block: b} }},
	RecMalware:     {"malware", false, func(_ uint32, _ DiscoveryHeader, b *Block) Record { return MalwareEvent{b} }},
	RecExtraData:   {"extra_data", false, func(_ uint32, _ DiscoveryHeader, b *Block) Record { return ExtraData{b} }},
	RecImpactAlert: {"impact", false, func(_ uint32, _ DiscoveryHeader, b *Block) Record { return ImpactAlert{b} }},
	RecCorrelation: {"correlation", false, func(_ uint32, _ DiscoveryHeader, b *Block) Record { return CorrelationEvent{b} }},
	RecIOC:         {"ioc", true, func(_ uint32, h DiscoveryHeader, b *Block) Record { return IOCEvent{Header: h, Block: b} }},
}

// decodeEventBlock decodes data as exactly one block of the family; the
// block type on the wire selects the layout, never the requested version.
func decodeEventBlock(family string, rec uint32, data []byte) (*Block, error) {
	if len(data) < 8 {
		return nil, malformed("record %d: %d bytes are too short for a block header", rec, len(data))
	}
	bt := binary.BigEndian.Uint32(data)
	l, ok := LayoutFor(family, bt)
	if !ok {
		return nil, fmt.Errorf("record %d: %s block %d: %w", rec, family, bt, ErrUnknownBlock)
	}
	blk, rest, err := decodeBlock(l, data)
	if err != nil {
		return nil, fmt.Errorf("record %d: %w", rec, err)
	}
	if len(rest) != 0 {
		return nil, malformed("record %d: %d bytes follow the %s", rec, len(rest), l.Name)
	}
	return blk, nil
}

func decodePacket(d []byte) (*Packet, error) {
	if len(d) < 28 {
		return nil, malformed("record 2 (packet): %d bytes are shorter than the 28-byte fixed part", len(d))
	}
	p := &Packet{
		DeviceID:          binary.BigEndian.Uint32(d),
		EventID:           binary.BigEndian.Uint32(d[4:]),
		EventSecond:       binary.BigEndian.Uint32(d[8:]),
		PacketSecond:      binary.BigEndian.Uint32(d[12:]),
		PacketMicrosecond: binary.BigEndian.Uint32(d[16:]),
		LinkType:          binary.BigEndian.Uint32(d[20:]),
	}
	n := binary.BigEndian.Uint32(d[24:])
	if uint64(n) != uint64(len(d)-28) {
		return nil, malformed("record 2 (packet): packet length %d does not match the %d bytes of packet data", n, len(d)-28)
	}
	p.Data = append([]byte(nil), d[28:]...)
	return p, nil
}
