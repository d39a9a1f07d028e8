// Package wiretest is test support for the eStreamer wire package: an
// encoder that builds server messages (records, bundles, metadata) from
// plain values, written independently of the decoder so that tests can
// round-trip through it, and helpers to script a server side.
package wiretest

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// V is a map of field values for EncodeBlock: uint types or int for
// numbers, string for strings, netip.Addr or string for addresses, string
// (canonical) or []byte for UUIDs, []byte for raw fields. Missing fields
// encode as zero / empty.
type V map[string]any

// EncodeBlock encodes one block of the given family and block type.
func EncodeBlock(family string, block uint32, v V) ([]byte, error) {
	l, ok := wire.LayoutFor(family, block)
	if !ok {
		return nil, fmt.Errorf("no %s layout for block %d", family, block)
	}
	var body []byte
	for _, f := range l.Fields[2:] {
		val := v[f.Name]
		var err error
		body, err = appendField(body, f, val)
		if err != nil {
			return nil, fmt.Errorf("%s field %s: %w", l.Name, f.Name, err)
		}
	}
	out := wire.AppendBlockHeader(nil, block, len(body))
	return append(out, body...), nil
}

// MustBlock is EncodeBlock that panics (test fixtures only).
func MustBlock(family string, block uint32, v V) []byte {
	b, err := EncodeBlock(family, block, v)
	if err != nil {
		panic(err)
	}
	return b
}

func num(val any) (uint64, error) {
	switch x := val.(type) {
	case nil:
		return 0, nil
	case int:
		return uint64(x), nil
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case uint64:
		return x, nil
	}
	return 0, fmt.Errorf("value %T is not a number", val)
}

func appendField(dst []byte, f wire.Field, val any) ([]byte, error) {
	switch f.Kind {
	case wire.KU8, wire.KU16, wire.KU32, wire.KU64:
		n, err := num(val)
		if err != nil {
			return nil, err
		}
		switch f.Kind {
		case wire.KU8:
			return append(dst, byte(n)), nil
		case wire.KU16:
			return binary.BigEndian.AppendUint16(dst, uint16(n)), nil
		case wire.KU32:
			return binary.BigEndian.AppendUint32(dst, uint32(n)), nil
		}
		return binary.BigEndian.AppendUint64(dst, n), nil
	case wire.KString:
		s, _ := val.(string)
		return wire.AppendString(dst, s), nil
	case wire.KBlob:
		b, _ := val.([]byte)
		dst = wire.AppendBlockHeader(dst, 10, len(b))
		return append(dst, b...), nil
	case wire.KIP:
		a, err := addr(val)
		if err != nil {
			return nil, err
		}
		b := a.As16()
		return append(dst, b[:]...), nil
	case wire.KUUID:
		b, err := UUIDBytes(val)
		if err != nil {
			return nil, err
		}
		return append(dst, b[:]...), nil
	}
	size := map[wire.Kind]int{wire.KRaw16: 16, wire.KRaw20: 20, wire.KRaw32: 32}[f.Kind]
	b, _ := val.([]byte)
	if len(b) > size {
		return nil, fmt.Errorf("raw value of %d bytes exceeds %d", len(b), size)
	}
	out := make([]byte, size)
	copy(out, b)
	return append(dst, out...), nil
}

func addr(val any) (netip.Addr, error) {
	switch x := val.(type) {
	case nil:
		return netip.IPv6Unspecified(), nil
	case netip.Addr:
		return x, nil
	case string:
		if x == "" {
			return netip.IPv6Unspecified(), nil
		}
		return netip.ParseAddr(x)
	}
	return netip.Addr{}, fmt.Errorf("value %T is not an address", val)
}

// UUIDBytes parses a canonical UUID string (or passes 16 bytes through).
func UUIDBytes(val any) ([16]byte, error) {
	var out [16]byte
	switch x := val.(type) {
	case nil:
		return out, nil
	case []byte:
		copy(out[:], x)
		return out, nil
	case string:
		j := 0
		for i := 0; i < len(x); i++ {
			if x[i] == '-' {
				continue
			}
			if j >= 32 || i+1 >= len(x) {
				return out, fmt.Errorf("bad uuid %q", x)
			}
			var b byte
			if _, err := fmt.Sscanf(x[i:i+2], "%02x", &b); err != nil {
				return out, fmt.Errorf("bad uuid %q", x)
			}
			out[j/2] = b
			j += 2
			i++
		}
		if j != 32 {
			return out, fmt.Errorf("bad uuid %q", x)
		}
		return out, nil
	}
	return out, fmt.Errorf("value %T is not a uuid", val)
}
