package wire

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Initial timestamps with a special meaning (reference §3.1).
const (
	TimestampOldest uint32 = 0
	TimestampNow    uint32 = 0xFFFFFFFF
)

// Request flag bits (reference §3.2).
const (
	FlagPacketData       uint32 = 1 << 0
	FlagMetadataV1       uint32 = 1 << 1
	FlagIntrusionLegacy  uint32 = 1 << 2
	FlagImpact           uint32 = 1 << 5
	FlagIntrusion        uint32 = 1 << 6
	FlagMetadata         uint32 = 1 << 20
	FlagUserEvents       uint32 = 1 << 21
	FlagArchiveTimestamp uint32 = 1 << 23
	FlagExtraData        uint32 = 1 << 27
	FlagExtended         uint32 = 1 << 30
)

// DefaultFlags is the reference client's flag word (0x48900061):
// packet, impact, intrusion, metadata v4, archive timestamps, extra data,
// extended request.
const DefaultFlags = FlagPacketData | FlagImpact | FlagIntrusion | FlagMetadata |
	FlagArchiveTimestamp | FlagExtraData | FlagExtended

// FlagNames maps configuration names to flag bits.
var FlagNames = map[string]uint32{
	"packet":             FlagPacketData,
	"metadata_v1":        FlagMetadataV1,
	"intrusion_legacy":   FlagIntrusionLegacy,
	"impact":             FlagImpact,
	"intrusion":          FlagIntrusion,
	"metadata":           FlagMetadata,
	"user":               FlagUserEvents,
	"archive_timestamps": FlagArchiveTimestamp,
	"extra_data":         FlagExtraData,
	"extended":           FlagExtended,
}

// ParseFlags parses a flag word given as a number (decimal or 0x hex) or as
// a comma-separated list of FlagNames and "bitN" items.
func ParseFlags(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 0, 32); err == nil {
		return uint32(n), nil
	}
	var flags uint32
	for _, item := range strings.Split(s, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item == "" {
			continue
		}
		if f, ok := FlagNames[item]; ok {
			flags |= f
			continue
		}
		if rest, ok := strings.CutPrefix(item, "bit"); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 && n < 32 {
				flags |= 1 << n
				continue
			}
		}
		return 0, fmt.Errorf("unknown request flag %q", item)
	}
	return flags, nil
}

// EventStreamRequest is the body of a type-2 message.
type EventStreamRequest struct {
	InitialTimestamp uint32
	Flags            uint32
}

// Append encodes the request body.
func (r EventStreamRequest) Append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, r.InitialTimestamp)
	return binary.BigEndian.AppendUint32(dst, r.Flags)
}

// ParseEventStreamRequest decodes a type-2 body (8 bytes).
func ParseEventStreamRequest(body []byte) (EventStreamRequest, error) {
	if len(body) != 8 {
		return EventStreamRequest{}, malformed("Event Stream Request body is %d bytes, want 8", len(body))
	}
	return EventStreamRequest{
		InitialTimestamp: binary.BigEndian.Uint32(body),
		Flags:            binary.BigEndian.Uint32(body[4:]),
	}, nil
}

// ServiceEStreamer is the service id of the event stream (6667).
const ServiceEStreamer uint32 = 6667

// Service is one entry of a Streaming Information message.
type Service struct {
	ID               uint32
	Flags            uint32
	InitialTimestamp uint32
}

// ParseStreamingInformation decodes a type-2051 body: entries of
// (id, length, flags, timestamp, ...) where length counts the bytes after
// the length field, so the next entry starts at offset+8+length.
func ParseStreamingInformation(body []byte) ([]Service, error) {
	var out []Service
	for off := 0; off < len(body); {
		if len(body)-off < 8 {
			return nil, malformed("Streaming Information: %d trailing bytes at offset %d are too short for a service header", len(body)-off, off)
		}
		id := binary.BigEndian.Uint32(body[off:])
		n := binary.BigEndian.Uint32(body[off+4:])
		if uint64(n) > uint64(len(body)-off-8) {
			return nil, malformed("Streaming Information: service %d length %d at offset %d exceeds the %d bytes left", id, n, off, len(body)-off-8)
		}
		s := Service{ID: id}
		if n >= 8 {
			s.Flags = binary.BigEndian.Uint32(body[off+8:])
			s.InitialTimestamp = binary.BigEndian.Uint32(body[off+12:])
		}
		out = append(out, s)
		off += 8 + int(n)
	}
	return out, nil
}

// AppendStreamingInformation encodes a type-2051 body as an FMC does
// (each entry length 8, flags and timestamp as given).
func AppendStreamingInformation(dst []byte, services []Service) []byte {
	for _, s := range services {
		dst = binary.BigEndian.AppendUint32(dst, s.ID)
		dst = binary.BigEndian.AppendUint32(dst, 8)
		dst = binary.BigEndian.AppendUint32(dst, s.Flags)
		dst = binary.BigEndian.AppendUint32(dst, s.InitialTimestamp)
	}
	return dst
}

// EventVersion is one (event type, version) pair of a Streaming Request.
type EventVersion struct {
	Type    uint16
	Version uint16
}

// Event type codes of the extended request (reference §4.3).
const (
	EventTypeIntrusion   uint16 = 12
	EventTypeMetadata    uint16 = 21
	EventTypeCorrelation uint16 = 31
	EventTypeDiscovery   uint16 = 61
	EventTypeConnection  uint16 = 71
	EventTypeUser        uint16 = 91
	EventTypeMalware     uint16 = 101
	EventTypeFile        uint16 = 111
	EventTypeImpact      uint16 = 131
)

// EventTypeNames maps configuration names to event type codes.
var EventTypeNames = map[string]uint16{
	"intrusion": EventTypeIntrusion, "metadata": EventTypeMetadata,
	"correlation": EventTypeCorrelation, "discovery": EventTypeDiscovery,
	"connection": EventTypeConnection, "user": EventTypeUser,
	"malware": EventTypeMalware, "file": EventTypeFile, "impact": EventTypeImpact,
}

// DefaultEventVersions is eNcore 5.1.2's list, in its order.
var DefaultEventVersions = []EventVersion{
	{EventTypeIntrusion, 11}, {EventTypeMetadata, 4}, {EventTypeCorrelation, 9},
	{EventTypeDiscovery, 11}, {EventTypeConnection, 17}, {EventTypeUser, 7},
	{EventTypeMalware, 8}, {EventTypeFile, 7}, {EventTypeImpact, 2},
}

// LengthConvention says what the service length field of a Streaming
// Request counts (reference §4.2: the sources disagree).
type LengthConvention int

const (
	// LengthIncludingHeader counts the whole entry including the service id
	// and length fields (eNcore; accepted by a real FMC).
	LengthIncludingHeader LengthConvention = iota
	// LengthExcludingHeader counts the bytes after the length field (the
	// guide's worked example and the server's own 2051 entries).
	LengthExcludingHeader
)

// StreamingRequest is the body of a type-2049 message.
type StreamingRequest struct {
	Service          uint32
	Flags            uint32
	InitialTimestamp uint32
	Events           []EventVersion
	// Convention records which length form was parsed (or is to be sent).
	Convention LengthConvention
}

// Append encodes the request with the terminator pair.
func (r StreamingRequest) Append(dst []byte) []byte {
	total := 16 + 4*len(r.Events) + 4
	length := uint32(total)
	if r.Convention == LengthExcludingHeader {
		length = uint32(total - 8)
	}
	dst = binary.BigEndian.AppendUint32(dst, r.Service)
	dst = binary.BigEndian.AppendUint32(dst, length)
	dst = binary.BigEndian.AppendUint32(dst, r.Flags)
	dst = binary.BigEndian.AppendUint32(dst, r.InitialTimestamp)
	for _, e := range r.Events {
		dst = binary.BigEndian.AppendUint16(dst, e.Version)
		dst = binary.BigEndian.AppendUint16(dst, e.Type)
	}
	return binary.BigEndian.AppendUint32(dst, 0)
}

// ParseStreamingRequest decodes a type-2049 body, accepting both length
// conventions. The pair list must end with a (0, 0) terminator that ends
// the entry.
func ParseStreamingRequest(body []byte) (StreamingRequest, error) {
	var r StreamingRequest
	if len(body) < 20 {
		return r, malformed("Streaming Request body of %d bytes is shorter than 20", len(body))
	}
	r.Service = binary.BigEndian.Uint32(body)
	n := binary.BigEndian.Uint32(body[4:])
	switch {
	case uint64(n) == uint64(len(body)):
		r.Convention = LengthIncludingHeader
	case uint64(n)+8 == uint64(len(body)):
		r.Convention = LengthExcludingHeader
	default:
		return r, malformed("Streaming Request service length %d matches neither the body length %d nor body-8", n, len(body))
	}
	if (len(body)-16)%4 != 0 {
		return r, malformed("Streaming Request pair list of %d bytes is not a multiple of 4", len(body)-16)
	}
	r.Flags = binary.BigEndian.Uint32(body[8:])
	r.InitialTimestamp = binary.BigEndian.Uint32(body[12:])
	for off := 16; off < len(body); off += 4 {
		v := binary.BigEndian.Uint16(body[off:])
		t := binary.BigEndian.Uint16(body[off+2:])
		if v == 0 && t == 0 {
			if off+4 != len(body) {
				return r, malformed("Streaming Request terminator at offset %d is followed by %d bytes", off, len(body)-off-4)
			}
			return r, nil
		}
		r.Events = append(r.Events, EventVersion{Type: t, Version: v})
	}
	return r, malformed("Streaming Request pair list has no (0,0) terminator")
}
