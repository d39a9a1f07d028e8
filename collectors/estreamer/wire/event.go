package wire

import (
	"encoding/binary"
	"fmt"
)

// EventData is a decoded type-4 body: the record header and the record
// data. Data aliases the message buffer.
type EventData struct {
	RecordType uint32
	// Extended is true when the 8-byte extended header (archive timestamp,
	// reserved) was present; it is detected by length, not by flag bit 23.
	Extended         bool
	ArchiveTimestamp uint32
	Reserved         uint32
	Data             []byte
}

// recordTypeMask removes bit 31 (a "U2R extended header" marker some
// servers set) before dispatch, as the Perl SDK does.
const recordTypeMask = 0x7FFFFFFF

// ParseEventData decodes an Event Data body. The body length must be
// 8+recordLength (no extended header) or 16+recordLength (extended).
func ParseEventData(body []byte) (EventData, error) {
	var ed EventData
	if len(body) < 8 {
		return ed, malformed("Event Data body of %d bytes is shorter than the 8-byte record header", len(body))
	}
	ed.RecordType = binary.BigEndian.Uint32(body) & recordTypeMask
	n := uint64(binary.BigEndian.Uint32(body[4:]))
	switch uint64(len(body)) {
	case 8 + n:
		ed.Data = body[8:]
	case 16 + n:
		ed.Extended = true
		ed.ArchiveTimestamp = binary.BigEndian.Uint32(body[8:])
		ed.Reserved = binary.BigEndian.Uint32(body[12:])
		ed.Data = body[16:]
	default:
		return ed, malformed("record %d: record length %d does not fit the Event Data body length %d (want %d or %d)",
			ed.RecordType, n, len(body), 8+n, 16+n)
	}
	return ed, nil
}

// AppendEventData encodes an Event Data body. With extended set the
// archive timestamp and a zero reserved word are included.
func AppendEventData(dst []byte, recordType uint32, extended bool, archiveTS uint32, data []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, recordType)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)))
	if extended {
		dst = binary.BigEndian.AppendUint32(dst, archiveTS)
		dst = binary.BigEndian.AppendUint32(dst, 0)
	}
	return append(dst, data...)
}

// Bundle is a decoded type-4002 body. Every item in Items has been framed
// and its record header checked; record data is not decoded yet.
type Bundle struct {
	ConnectionID uint32
	Sequence     uint32
	Items        []EventData
	// Skipped lists what could not be used, in bundle order: items whose
	// record header disagrees with their item length, and, if the item
	// framing itself breaks, the rest of the bundle from that offset.
	Skipped []SkippedItem
}

// SkippedItem describes a part of a bundle that was not decoded.
type SkippedItem struct {
	Index      int    // item number in the bundle, from 0
	Offset     int    // byte offset of the item in the bundle body
	Length     int    // bytes skipped, item header included
	RecordType uint32 // 0 when the item is too short to carry one
	// Rest is true when the item framing broke here: the bytes from
	// Offset to the end of the bundle could not be split into items.
	Rest bool
	Err  error // wraps ErrMalformed
}

// ParseBundle decodes a Message Bundle body: connection id, sequence, then
// items of (uint32 type = 4, uint32 length, Event Data body) until the body
// is consumed. The outer item length alone frames the items, so one item
// whose record header is inconsistent is reported in Skipped and the items
// after it are still returned, as the reference clients do; only when the
// framing itself fails (an item type other than 4, a length past the end)
// is the rest of the bundle skipped. The error is non-nil only for a body
// too short to hold the bundle header. items is reused if it has capacity.
func ParseBundle(body []byte, items []EventData) (Bundle, error) {
	b := Bundle{Items: items[:0]}
	if len(body) < 8 {
		return b, malformed("Message Bundle body of %d bytes is shorter than 8", len(body))
	}
	b.ConnectionID = binary.BigEndian.Uint32(body)
	b.Sequence = binary.BigEndian.Uint32(body[4:])
	for off, i := 8, 0; off < len(body); i++ {
		if err := b.frameError(body, off, i); err != nil {
			b.Skipped = append(b.Skipped, SkippedItem{Index: i, Offset: off, Length: len(body) - off,
				RecordType: recordTypeAt(body[off:], 8), Rest: true, Err: err})
			return b, nil
		}
		n := int(binary.BigEndian.Uint32(body[off+4:]))
		ed, err := ParseEventData(body[off+8 : off+8+n])
		if err != nil {
			b.Skipped = append(b.Skipped, SkippedItem{Index: i, Offset: off, Length: 8 + n,
				RecordType: recordTypeAt(body[off:], 8),
				Err:        fmt.Errorf("Message Bundle %d item %d at offset %d: %w", b.Sequence, i, off, err)})
		} else {
			b.Items = append(b.Items, ed)
		}
		off += 8 + n
	}
	return b, nil
}

// frameError checks the item header at off.
func (b *Bundle) frameError(body []byte, off, i int) error {
	if len(body)-off < 8 {
		return malformed("Message Bundle %d item %d: %d trailing bytes at offset %d are too short for an item header",
			b.Sequence, i, len(body)-off, off)
	}
	typ := binary.BigEndian.Uint32(body[off:])
	n := uint64(binary.BigEndian.Uint32(body[off+4:]))
	if typ != uint32(TypeEventData) {
		return malformed("Message Bundle %d item %d at offset %d has message type %d, want 4 (Event Data)",
			b.Sequence, i, off, typ)
	}
	if n > uint64(len(body)-off-8) {
		return malformed("Message Bundle %d item %d at offset %d: length %d exceeds the %d bytes left",
			b.Sequence, i, off, n, len(body)-off-8)
	}
	return nil
}

// recordTypeAt reads the record type of an Event Data body starting at
// skip bytes into p (0 if p is too short), for reporting only.
func recordTypeAt(p []byte, skip int) uint32 {
	if len(p) < skip+4 {
		return 0
	}
	return binary.BigEndian.Uint32(p[skip:]) & recordTypeMask
}

// AppendBundleItem appends one bundle item wrapping an Event Data body.
func AppendBundleItem(dst []byte, eventDataBody []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(TypeEventData))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(eventDataBody)))
	return append(dst, eventDataBody...)
}

// AppendBundleHeader starts a bundle body.
func AppendBundleHeader(dst []byte, connectionID, sequence uint32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, connectionID)
	return binary.BigEndian.AppendUint32(dst, sequence)
}
