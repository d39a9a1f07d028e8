package wire

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"strconv"
)

// Kind is the wire type of one field.
type Kind uint8

// Field kinds (reference §6.0).
const (
	KU8     Kind = iota + 1
	KU16         // big-endian uint16
	KU32         // big-endian uint32
	KU64         // big-endian uint64
	KIP          // 16-byte address, IPv4 mapped
	KUUID        // 16 raw bytes, RFC 4122 order
	KRaw16       // 16 raw bytes
	KRaw20       // 20 raw bytes
	KRaw32       // 32 raw bytes
	KString      // string data block (type 0, length incl. header, bytes)
	KBlob        // BLOB data block (type 10), raw bytes
)

func (k Kind) size() int {
	switch k {
	case KU8:
		return 1
	case KU16:
		return 2
	case KU32:
		return 4
	case KU64:
		return 8
	case KIP, KUUID, KRaw16:
		return 16
	case KRaw20:
		return 20
	case KRaw32:
		return 32
	}
	return 0
}

// Field names one field of a layout.
type Field struct {
	Name string
	Kind Kind
}

// Layout is the field list of one block type (including the block type
// and length fields as the first two).
type Layout struct {
	Name   string
	Block  uint32
	Fields []Field
	index  map[string]int
}

func newLayout(name string, block uint32, fields []Field) *Layout {
	l := &Layout{Name: name, Block: block, Fields: fields, index: make(map[string]int, len(fields))}
	for i, f := range fields {
		l.index[f.Name] = i
	}
	return l
}

// Value is one decoded field. Numbers are in U, addresses/UUIDs/raw bytes
// in B (a copy), strings in S.
type Value struct {
	U uint64
	B []byte
	S string
}

// Block is a decoded block: its layout and one value per field.
type Block struct {
	Layout *Layout
	Values []Value
}

func (b *Block) get(name string) (Value, bool) {
	if b == nil || b.Layout == nil {
		return Value{}, false
	}
	i, ok := b.Layout.index[name]
	if !ok {
		return Value{}, false
	}
	return b.Values[i], true
}

// Has reports whether the block's layout has the field.
func (b *Block) Has(name string) bool { _, ok := b.get(name); return ok }

// Uint returns a numeric field (0 if absent).
func (b *Block) Uint(name string) uint64 { v, _ := b.get(name); return v.U }

// U32 returns a numeric field as uint32.
func (b *Block) U32(name string) uint32 { return uint32(b.Uint(name)) }

// Str returns a string field ("" if absent).
func (b *Block) Str(name string) string { v, _ := b.get(name); return v.S }

// Bytes returns a raw/address/UUID field (nil if absent).
func (b *Block) Bytes(name string) []byte { v, _ := b.get(name); return v.B }

// IP returns an address field, unmapping IPv4-mapped addresses; the zero
// Addr if absent.
func (b *Block) IP(name string) netip.Addr {
	v, ok := b.get(name)
	if !ok || len(v.B) != 16 {
		return netip.Addr{}
	}
	return netip.AddrFrom16([16]byte(v.B)).Unmap()
}

// UUID returns a UUID field in canonical form ("" if absent or all zero).
func (b *Block) UUID(name string) string {
	v, ok := b.get(name)
	if !ok {
		return ""
	}
	return FormatUUID(v.B)
}

// FormatUUID formats 16 bytes as a UUID; all-zero (= none) gives "".
func FormatUUID(b []byte) string {
	if len(b) != 16 || isZero(b) {
		return ""
	}
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// MarshalJSON writes the fields as an ordered JSON object: numbers,
// strings, addresses as text, UUIDs canonical, raw bytes as hex.
func (b *Block) MarshalJSON() ([]byte, error) {
	if b == nil || b.Layout == nil {
		return []byte("null"), nil
	}
	out := []byte{'{'}
	for i, f := range b.Layout.Fields {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, f.Name)
		out = append(out, ':')
		v := b.Values[i]
		switch f.Kind {
		case KU8, KU16, KU32, KU64:
			out = strconv.AppendUint(out, v.U, 10)
		case KString:
			out = appendJSONString(out, v.S)
		case KIP:
			out = appendJSONString(out, netip.AddrFrom16([16]byte(v.B)).Unmap().String())
		case KUUID:
			out = appendJSONString(out, FormatUUID(v.B))
		default:
			out = append(out, '"')
			out = hex.AppendEncode(out, v.B)
			out = append(out, '"')
		}
	}
	return append(out, '}'), nil
}

// appendJSONString appends s as a JSON string, exactly as encoding/json
// writes it. Field names, addresses and UUIDs are printable ASCII that
// needs no escaping and is copied as is: quoting them through strconv was
// over a third of the time spent encoding a record.
func appendJSONString(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(out, b...)
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"')
}

// decodeBlock decodes data as one block of layout l. The block header must
// carry l.Block and a length that the fields consume exactly; the block
// may be followed by more data (returned as rest).
func decodeBlock(l *Layout, data []byte) (blk *Block, rest []byte, err error) {
	if len(data) < 8 {
		return nil, nil, malformed("%s: %d bytes are too short for a block header", l.Name, len(data))
	}
	bt := binary.BigEndian.Uint32(data)
	bl := binary.BigEndian.Uint32(data[4:])
	if bt != l.Block {
		return nil, nil, malformed("%s: block type %d, want %d", l.Name, bt, l.Block)
	}
	if bl < 8 || uint64(bl) > uint64(len(data)) {
		return nil, nil, malformed("%s: block length %d outside 8..%d", l.Name, bl, len(data))
	}
	blk = &Block{Layout: l, Values: make([]Value, len(l.Fields))}
	blk.Values[0].U, blk.Values[1].U = uint64(bt), uint64(bl)
	c := cursor{b: data[8:bl], what: l.Name}
	for i := 2; i < len(l.Fields); i++ {
		if err := c.field(l.Fields[i], &blk.Values[i]); err != nil {
			return nil, nil, err
		}
	}
	if len(c.b) != 0 {
		return nil, nil, malformed("%s: %d bytes left over after the last field (block length %d)", l.Name, len(c.b), bl)
	}
	return blk, data[bl:], nil
}

// cursor reads fields from a byte slice, failing with the field name.
type cursor struct {
	b    []byte
	what string
}

func (c *cursor) short(name string, want int) error {
	return malformed("%s: field %s needs %d bytes, %d left", c.what, name, want, len(c.b))
}

func (c *cursor) field(f Field, v *Value) error {
	if n := f.Kind.size(); n > 0 {
		if len(c.b) < n {
			return c.short(f.Name, n)
		}
		p := c.b[:n]
		c.b = c.b[n:]
		switch f.Kind {
		case KU8:
			v.U = uint64(p[0])
		case KU16:
			v.U = uint64(binary.BigEndian.Uint16(p))
		case KU32:
			v.U = uint64(binary.BigEndian.Uint32(p))
		case KU64:
			v.U = binary.BigEndian.Uint64(p)
		default:
			v.B = append([]byte(nil), p...)
		}
		return nil
	}
	want := uint32(0)
	if f.Kind == KBlob {
		want = 10
	}
	payload, err := c.dataBlock(f.Name, want)
	if err != nil {
		return err
	}
	if f.Kind == KBlob {
		v.B = append([]byte(nil), payload...)
	} else {
		v.S = trimNUL(payload)
	}
	return nil
}

// dataBlock reads a string (type 0) or BLOB (type 10) block.
func (c *cursor) dataBlock(name string, wantType uint32) ([]byte, error) {
	if len(c.b) < 8 {
		return nil, c.short(name, 8)
	}
	bt := binary.BigEndian.Uint32(c.b)
	bl := binary.BigEndian.Uint32(c.b[4:])
	if bt != wantType {
		return nil, malformed("%s: field %s: data block type %d, want %d", c.what, name, bt, wantType)
	}
	if bl < 8 {
		return nil, malformed("%s: field %s: string block length %d is shorter than its 8-byte header", c.what, name, bl)
	}
	if uint64(bl) > uint64(len(c.b)) {
		return nil, malformed("%s: field %s: string block length %d exceeds the %d bytes left", c.what, name, bl, len(c.b))
	}
	p := c.b[8:bl]
	c.b = c.b[bl:]
	return p, nil
}

// u32, u16 and lenString serve the hand-written metadata decoders.
func (c *cursor) u32(name string) (uint32, error) {
	if len(c.b) < 4 {
		return 0, c.short(name, 4)
	}
	v := binary.BigEndian.Uint32(c.b)
	c.b = c.b[4:]
	return v, nil
}

func (c *cursor) u16(name string) (uint16, error) {
	if len(c.b) < 2 {
		return 0, c.short(name, 2)
	}
	v := binary.BigEndian.Uint16(c.b)
	c.b = c.b[2:]
	return v, nil
}

func (c *cursor) raw(name string, n int) ([]byte, error) {
	if len(c.b) < n {
		return nil, c.short(name, n)
	}
	p := c.b[:n]
	c.b = c.b[n:]
	return p, nil
}

func (c *cursor) str(name string) (string, error) {
	p, err := c.dataBlock(name, 0)
	return trimNUL(p), err
}

func (c *cursor) done() error {
	if len(c.b) != 0 {
		return malformed("%s: %d bytes left over after the last field", c.what, len(c.b))
	}
	return nil
}
