package estreamer

import (
	"strconv"
	"sync"

	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// cache holds the metadata records of the session(s), keyed as eNcore
// keys them, so events can be enriched with names. It survives
// reconnects (the server re-sends metadata on a new session anyway).
type cache struct {
	mu         sync.RWMutex
	priorities map[uint32]string
	rules      map[[2]uint32]*wire.RuleMessage // (gid, sid)
	classes    map[uint32]*wire.Classification
	idNames    map[[2]uint32]string // (record type, id)
	uuidNames  map[string]string    // uuid -> name (zones, interfaces, policies)
	users      map[uint32]string
	acRules    map[string]string // policy uuid + "/" + rule id
	countries  map[uint16]string
	stored     int
}

func newCache() *cache {
	return &cache{
		priorities: map[uint32]string{}, rules: map[[2]uint32]*wire.RuleMessage{},
		classes: map[uint32]*wire.Classification{}, idNames: map[[2]uint32]string{},
		uuidNames: map[string]string{}, users: map[uint32]string{}, acRules: map[string]string{},
		countries: map[uint16]string{},
	}
}

// store caches a metadata record; it reports false for non-metadata.
func (c *cache) store(r wire.Record) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m := r.(type) {
	case *wire.Priority:
		c.priorities[m.ID] = m.Name
	case *wire.RuleMessage:
		c.rules[[2]uint32{m.GeneratorID, m.RuleID}] = m
	case *wire.Classification:
		c.classes[m.ID] = m
	case *wire.IDName:
		c.idNames[[2]uint32{m.Record, m.ID}] = m.Name
	case *wire.UUIDName:
		if m.UUID != "" {
			c.uuidNames[m.UUID] = m.Name
		}
	case *wire.PolicyName:
		if m.UUID != "" {
			c.uuidNames[m.UUID] = m.Name
		}
	case *wire.ACRule:
		c.acRules[m.PolicyUUID+"/"+strconv.FormatUint(uint64(m.ID), 10)] = m.Name
	case *wire.User:
		c.users[m.ID] = m.Name
	case *wire.Geolocation:
		c.countries[m.CountryCode] = m.Name
	case *wire.IDNameDescription:
		c.idNames[[2]uint32{m.Record, m.ID}] = m.Name
	default:
		return false
	}
	c.stored++
	return true
}

// Metadata record types used for enrichment.
const (
	recClientApp  = 55
	recAppProto   = 63
	recWebApp     = 109
	recDeviceName = 123
)

func (c *cache) idName(rec, id uint32) string {
	if id == 0 {
		return ""
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.idNames[[2]uint32{rec, id}]
}

func (c *cache) uuidName(u string) string {
	if u == "" {
		return ""
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.uuidNames[u]
}

func (c *cache) rule(gid, sid uint32) *wire.RuleMessage {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rules[[2]uint32{gid, sid}]
}

func (c *cache) class(id uint32) *wire.Classification {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.classes[id]
}

func (c *cache) priority(id uint32) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.priorities[id]
}

func (c *cache) user(id uint32) string {
	if id == 0 {
		return ""
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.users[id]
}

func (c *cache) acRule(policy string, id uint32) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.acRules[policy+"/"+strconv.FormatUint(uint64(id), 10)]
}

func (c *cache) country(code uint16) string {
	if code == 0 {
		return ""
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.countries[code]
}

// enrich returns the resolved names for the fields a block has, keyed by
// a readable name; absent or unresolved values are left out.
func (c *cache) enrich(b *wire.Block) map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set("device", c.idName(recDeviceName, b.U32("deviceId")))
	set("user", c.user(b.U32("userId")))
	set("application", c.idName(recAppProto, b.U32("applicationId")))
	set("client_application", c.idName(recClientApp, b.U32("clientApplicationId")))
	set("web_application", c.idName(recWebApp, b.U32("webApplicationId")))
	for _, f := range []struct{ field, name string }{
		{"securityZoneIngressUuid", "ingress_zone"}, {"securityZoneEgressUuid", "egress_zone"},
		{"ingressZone", "ingress_zone"}, {"egressZone", "egress_zone"},
		{"interfaceIngressUuid", "ingress_interface"}, {"interfaceEgressUuid", "egress_interface"},
		{"ingressInterface", "ingress_interface"}, {"egressInterface", "egress_interface"},
		{"policyUuid", "intrusion_policy"}, {"accessControlPolicyUuid", "access_control_policy"},
		{"policyRevision", "access_control_policy"},
	} {
		if b.Has(f.field) {
			set(f.name, c.uuidName(b.UUID(f.field)))
		}
	}
	if b.Has("accessControlRuleId") {
		set("access_control_rule", c.acRule(b.UUID("accessControlPolicyUuid"), b.U32("accessControlRuleId")))
	}
	if b.Has("ruleId") && b.Has("policyRevision") {
		set("access_control_rule", c.acRule(b.UUID("policyRevision"), b.U32("ruleId")))
	}
	for _, f := range []struct{ field, name string }{
		{"sourceCountry", "source_country"}, {"destinationCountry", "destination_country"},
		{"initiatorCountry", "initiator_country"}, {"responderCountry", "responder_country"},
	} {
		if b.Has(f.field) {
			set(f.name, c.country(uint16(b.Uint(f.field))))
		}
	}
	if b.Has("generatorId") {
		if r := c.rule(b.U32("generatorId"), b.U32("ruleId")); r != nil {
			set("rule_message", r.Message)
		}
	}
	if b.Has("classificationId") {
		if cl := c.class(b.U32("classificationId")); cl != nil {
			set("classification", cl.Name)
			set("classification_description", cl.Description)
		}
	}
	if b.Has("priorityId") {
		set("priority", c.priority(b.U32("priorityId")))
	}
	return out
}
