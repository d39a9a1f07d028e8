package wire

import (
	"encoding/binary"
	"fmt"
)

// Priority is record 4.
type Priority struct {
	ID   uint32
	Name string
}

func (*Priority) RecordType() uint32 { return RecPriority }

// RuleMessage is record 66.
type RuleMessage struct {
	GeneratorID, RuleID, RuleRevision, SignatureID uint32
	RuleUUID, RuleRevisionUUID                     string
	Message                                        string
}

func (*RuleMessage) RecordType() uint32 { return RecRuleMessage }

// Classification is record 67.
type Classification struct {
	ID                 uint32
	Name, Description  string
	UUID, RevisionUUID string
}

func (*Classification) RecordType() uint32 { return RecClassification }

// IDName is one of the id/length/name metadata records (reference §6.4
// table D), e.g. 123 managed device, 63 application protocol, 55 client
// application, 109 web application.
type IDName struct {
	Record uint32
	ID     uint32
	Name   string
}

func (m *IDName) RecordType() uint32 { return m.Record }

// UUIDName is a uuid → name metadata record: 115 security zone, 116
// interface, 117 access control policy, 118 intrusion policy, 127, 322,
// 530, 700 (with a block header) and 132, 282, 600 (without).
type UUIDName struct {
	Record uint32
	UUID   string
	Name   string
}

func (m *UUIDName) RecordType() uint32 { return m.Record }

// ACRule is record 119: access control rule id within a policy.
type ACRule struct {
	PolicyUUID string
	ID         uint32
	Name       string
}

func (*ACRule) RecordType() uint32 { return RecACRule }

// PolicyName is records 145–147: (sensor, uuid) → name.
type PolicyName struct {
	Record   uint32
	UUID     string
	SensorID uint32
	Name     string
}

func (m *PolicyName) RecordType() uint32 { return m.Record }

// Geolocation is record 520.
type Geolocation struct {
	CountryCode uint16
	Name        string
}

func (*Geolocation) RecordType() uint32 { return RecGeolocation }

// IDNameDescription is records 320/321 (DNS record type / response).
type IDNameDescription struct {
	Record            uint32
	ID                uint32
	Name, Description string
}

func (m *IDNameDescription) RecordType() uint32 { return m.Record }

// User is records 62/98 (block 57): user id → name.
type User struct {
	Record   uint32
	ID       uint32
	Protocol uint32
	Name     string
}

func (m *User) RecordType() uint32 { return m.Record }

// CorrelationPolicy is record 69: correlation policy id → name (the
// classification shape: uint16-length name and description, two UUIDs).
type CorrelationPolicy struct {
	ID                uint32
	Name, Description string
	UUID              string
}

func (*CorrelationPolicy) RecordType() uint32 { return RecCorrPolicy }

// CorrelationRule is record 70: correlation rule id → name, description
// and the event type the rule matches.
type CorrelationRule struct {
	ID                           uint32
	Name, Description, EventType string
	UUID                         string
}

func (*CorrelationRule) RecordType() uint32 { return RecCorrRule }

// IOCName is record 161 (series-2 block 39): IoC id → category and event
// type, e.g. "CnC Connected" / "Malware Detected".
type IOCName struct {
	ID                  uint32
	Category, EventType string
}

func (*IOCName) RecordType() uint32 { return RecIOCName }

// SICategory is record 280 (series-2 block 22): the name of a Security
// Intelligence category (list) id within an access control policy.
type SICategory struct {
	ID         uint32
	PolicyUUID string
	Name       string
}

func (*SICategory) RecordType() uint32 { return RecSICategory }

// idNameRecords are the table-D family (reference §6.4).
var idNameRecords = map[uint32]bool{}

func init() {
	for _, r := range []uint32{55, 58, 59, 60, 61, 63, 90, 91, 96, 109, 120, 121, 122, 123,
		128, 129, 130, 131, 281, 300, 302, 350, 510, 515, 516, 517, 518, 519,
		602, 604, 605, 606, 607, 608, 613} {
		idNameRecords[r] = true
	}
}

// IsMetadata reports whether rec is a metadata record this package decodes.
func IsMetadata(rec uint32) bool {
	switch rec {
	case RecPriority, RecRuleMessage, RecClassification, RecUser, RecRUAUser, RecACRule,
		RecCorrPolicy, RecCorrRule, RecIOCName, RecSICategory, RecGeolocation, 115, 116, 117, 118, 127, 322, 530, 700, 132, 282, 600, 145, 146, 147, 320, 321:
		return true
	}
	return idNameRecords[rec]
}

// decodeMetadata decodes metadata records; ok is false for other types.
func decodeMetadata(rec uint32, d []byte) (r Record, ok bool, err error) {
	if !IsMetadata(rec) {
		return nil, false, nil
	}
	c := &cursor{b: d, what: "record " + itoa(rec)}
	r, err = decodeMeta(rec, c)
	if err == nil {
		err = c.done()
	}
	if err != nil {
		return nil, true, err
	}
	return r, true, nil
}

func decodeMeta(rec uint32, c *cursor) (Record, error) {
	switch {
	case rec == RecPriority:
		id, err := c.u32("id")
		if err != nil {
			return nil, err
		}
		name, err := c.len16("name")
		return &Priority{ID: id, Name: name}, err
	case rec == RecRuleMessage:
		return decodeRuleMessage(c)
	case rec == RecClassification:
		return decodeClassification(c)
	case rec == RecCorrPolicy:
		return decodeCorrelationPolicy(c)
	case rec == RecCorrRule:
		return decodeCorrelationRule(c)
	case idNameRecords[rec]:
		id, err := c.u32("id")
		if err != nil {
			return nil, err
		}
		name, err := c.len32("name")
		return &IDName{Record: rec, ID: id, Name: name}, err
	}
	switch rec {
	case 132, 282, 600: // uuid + string block, no block header
		u, err := c.raw("uuid", 16)
		if err != nil {
			return nil, err
		}
		name, err := c.str("name")
		return &UUIDName{Record: rec, UUID: FormatUUID(u), Name: name}, err
	}
	// Everything else is one series-2 block.
	bt, err := c.blockHeader()
	if err != nil {
		return nil, err
	}
	return decodeBlockMeta(rec, bt, c)
}

// decodeBlockMeta decodes the metadata records that are one series-2
// block of type bt (the cursor is past the block header).
func decodeBlockMeta(rec, bt uint32, c *cursor) (Record, error) {
	switch rec {
	case 115, 116, 117, 118, 127, 322, 530, 700:
		if rec < 530 && bt != 14 {
			return nil, malformed("%s: block type %d, want 14", c.what, bt)
		}
		u, err := c.raw("uuid", 16)
		if err != nil {
			return nil, err
		}
		name, err := c.str("name")
		return &UUIDName{Record: rec, UUID: FormatUUID(u), Name: name}, err
	case RecACRule:
		if err := c.wantBlock(bt, 15); err != nil {
			return nil, err
		}
		u, err := c.raw("uuid", 16)
		if err != nil {
			return nil, err
		}
		id, err := c.u32("id")
		if err != nil {
			return nil, err
		}
		name, err := c.str("name")
		return &ACRule{PolicyUUID: FormatUUID(u), ID: id, Name: name}, err
	case 145, 146, 147:
		if err := c.wantBlock(bt, 64); err != nil {
			return nil, err
		}
		u, err := c.raw("uuid", 16)
		if err != nil {
			return nil, err
		}
		sensor, err := c.u32("sensorId")
		if err != nil {
			return nil, err
		}
		name, err := c.str("name")
		return &PolicyName{Record: rec, UUID: FormatUUID(u), SensorID: sensor, Name: name}, err
	}
	return decodeBlockMetaMore(rec, bt, c)
}

// decodeBlockMetaMore is decodeBlockMeta for geolocation, IoC name, SI
// category, DNS and user records.
func decodeBlockMetaMore(rec, bt uint32, c *cursor) (Record, error) {
	switch rec {
	case RecGeolocation:
		if err := c.wantBlock(bt, 28); err != nil {
			return nil, err
		}
		cc, err := c.u16("countryCode")
		if err != nil {
			return nil, err
		}
		name, err := c.str("country")
		return &Geolocation{CountryCode: cc, Name: name}, err
	case RecIOCName, RecSICategory:
		return decodeNamedID(rec, bt, c)
	case 320, 321:
		if err := c.wantBlock(bt, 61); err != nil {
			return nil, err
		}
		id, err := c.u32("id")
		if err != nil {
			return nil, err
		}
		name, err := c.str("name")
		if err != nil {
			return nil, err
		}
		desc, err := c.str("description")
		return &IDNameDescription{Record: rec, ID: id, Name: name, Description: desc}, err
	case RecUser, RecRUAUser:
		if err := c.wantBlock(bt, 57); err != nil {
			return nil, err
		}
		id, err := c.u32("id")
		if err != nil {
			return nil, err
		}
		proto, err := c.u32("protocol")
		if err != nil {
			return nil, err
		}
		name, err := c.str("name")
		return &User{Record: rec, ID: id, Protocol: proto, Name: name}, err
	}
	return nil, fmt.Errorf("%s: %w", c.what, ErrUnknownRecord)
}

func decodeRuleMessage(c *cursor) (Record, error) {
	var m RuleMessage
	var err error
	for _, p := range []*uint32{&m.GeneratorID, &m.RuleID, &m.RuleRevision, &m.SignatureID} {
		if *p, err = c.u32("id fields"); err != nil {
			return nil, err
		}
	}
	n, err := c.u16("messageLength")
	if err != nil {
		return nil, err
	}
	u, err := c.raw("ruleUuid", 32)
	if err != nil {
		return nil, err
	}
	m.RuleUUID, m.RuleRevisionUUID = FormatUUID(u[:16]), FormatUUID(u[16:])
	msg, err := c.raw("message", int(n))
	if err != nil {
		return nil, err
	}
	m.Message = trimNUL(msg)
	return &m, nil
}

func decodeClassification(c *cursor) (Record, error) {
	var m Classification
	u, err := c.described(&m.ID, 32, "uuid", field{"name", &m.Name}, field{"description", &m.Description})
	if err != nil {
		return nil, err
	}
	m.UUID, m.RevisionUUID = FormatUUID(u[:16]), FormatUUID(u[16:])
	return &m, nil
}

// decodeNamedID decodes records 161 (IoC name, block 39) and 280 (SI
// category, block 22).
func decodeNamedID(rec, bt uint32, c *cursor) (Record, error) {
	switch rec {
	case RecIOCName:
		if err := c.wantBlock(bt, 39); err != nil {
			return nil, err
		}
		id, err := c.u32("id")
		if err != nil {
			return nil, err
		}
		cat, err := c.str("category")
		if err != nil {
			return nil, err
		}
		et, err := c.str("eventType")
		return &IOCName{ID: id, Category: cat, EventType: et}, err
	case RecSICategory:
		if err := c.wantBlock(bt, 22); err != nil {
			return nil, err
		}
		id, err := c.u32("id")
		if err != nil {
			return nil, err
		}
		u, err := c.raw("accessControlPolicyUuid", 16)
		if err != nil {
			return nil, err
		}
		name, err := c.str("name")
		return &SICategory{ID: id, PolicyUUID: FormatUUID(u), Name: name}, err
	}
	return nil, fmt.Errorf("%s: %w", c.what, ErrUnknownRecord)
}

func decodeCorrelationPolicy(c *cursor) (Record, error) {
	var m CorrelationPolicy
	u, err := c.described(&m.ID, 32, "uuid", field{"name", &m.Name}, field{"description", &m.Description})
	if err != nil {
		return nil, err
	}
	m.UUID = FormatUUID(u[:16])
	return &m, nil
}

func decodeCorrelationRule(c *cursor) (Record, error) {
	var m CorrelationRule
	u, err := c.described(&m.ID, 48, "uuids",
		field{"name", &m.Name}, field{"description", &m.Description}, field{"eventType", &m.EventType})
	if err != nil {
		return nil, err
	}
	m.UUID = FormatUUID(u[:16])
	return &m, nil
}

// field is a length-prefixed string of a record and where it goes.
type field struct {
	name string
	p    *string
}

// described reads the layout the classification and correlation policy
// and rule records share: a 32-bit id, 16-bit length-prefixed strings, then
// uuidLen bytes of uuids, which it returns.
func (c *cursor) described(id *uint32, uuidLen int, uuidName string, fields ...field) ([]byte, error) {
	var err error
	if *id, err = c.u32("id"); err != nil {
		return nil, err
	}
	for _, f := range fields {
		if *f.p, err = c.len16(f.name); err != nil {
			return nil, err
		}
	}
	return c.raw(uuidName, uuidLen)
}

func (c *cursor) len16(name string) (string, error) {
	n, err := c.u16(name + " length")
	if err != nil {
		return "", err
	}
	p, err := c.raw(name, int(n))
	return trimNUL(p), err
}

func (c *cursor) len32(name string) (string, error) {
	n, err := c.u32(name + " length")
	if err != nil {
		return "", err
	}
	if uint64(n) > uint64(len(c.b)) {
		return "", c.short(name, int(min(n, 1<<30)))
	}
	p, _ := c.raw(name, int(n))
	return trimNUL(p), nil
}

// blockHeader reads a series-2 block header and limits the cursor to the
// block (which must fill the rest of the record).
func (c *cursor) blockHeader() (uint32, error) {
	bt, err := c.u32("blockType")
	if err != nil {
		return 0, err
	}
	bl, err := c.u32("blockLength")
	if err != nil {
		return 0, err
	}
	if bl < 8 || uint64(bl-8) != uint64(len(c.b)) {
		return 0, malformed("%s: block %d length %d does not match the %d record bytes", c.what, bt, bl, len(c.b)+8)
	}
	return bt, nil
}

func (c *cursor) wantBlock(got, want uint32) error {
	if got != want {
		return malformed("%s: block type %d, want %d", c.what, got, want)
	}
	return nil
}

// AppendBlockHeader appends a series-1/2 block header whose length counts
// the header plus payloadLen.
func AppendBlockHeader(dst []byte, blockType uint32, payloadLen int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, blockType)
	return binary.BigEndian.AppendUint32(dst, uint32(8+payloadLen))
}

// AppendString appends a string data block.
func AppendString(dst []byte, s string) []byte {
	dst = AppendBlockHeader(dst, 0, len(s))
	return append(dst, s...)
}
