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
	corrPols   map[uint32]string
	corrRules  map[uint32]string
	iocs       map[uint32]*wire.IOCName
	siCats     map[string]string // policy uuid + "/" + category id
	stored     int
}

func newCache() *cache {
	return &cache{
		priorities: map[uint32]string{}, rules: map[[2]uint32]*wire.RuleMessage{},
		classes: map[uint32]*wire.Classification{}, idNames: map[[2]uint32]string{},
		uuidNames: map[string]string{}, users: map[uint32]string{}, acRules: map[string]string{},
		countries: map[uint16]string{}, corrPols: map[uint32]string{}, corrRules: map[uint32]string{},
		iocs: map[uint32]*wire.IOCName{}, siCats: map[string]string{},
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
	case *wire.CorrelationPolicy:
		c.corrPols[m.ID] = m.Name
	case *wire.CorrelationRule:
		c.corrRules[m.ID] = m.Name
	case *wire.IOCName:
		c.iocs[m.ID] = m
	case *wire.SICategory:
		c.siCats[m.PolicyUUID+"/"+strconv.FormatUint(uint64(m.ID), 10)] = m.Name
	default:
		return false
	}
	c.stored++
	return true
}

// Metadata record types used for enrichment.
const (
	recClientApp   = 55
	recAppProto    = 63
	recWebApp      = 109
	recRuleAction  = 120
	recURLCategory = 121
	recURLRep      = 122
	recDeviceName  = 123
	recSISrcDst    = 281
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

func (c *cache) corrPolicy(id uint32) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.corrPols[id]
}

func (c *cache) corrRule(id uint32) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.corrRules[id]
}

func (c *cache) ioc(id uint32) *wire.IOCName {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.iocs[id]
}

// siCategory names a Security Intelligence list id of a connection event;
// the ids are per access control policy (record 280 carries the policy).
func (c *cache) siCategory(policy string, id uint32) string {
	if id == 0 {
		return ""
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.siCats[policy+"/"+strconv.FormatUint(uint64(id), 10)]
}

func (c *cache) country(code uint16) string {
	if code == 0 {
		return ""
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.countries[code]
}

// enrich returns the resolved names for the fields an event has, keyed by
// a readable name; absent or unresolved values are left out.
func (c *cache) enrich(e *event) map[string]string {
	b := e.blk
	out := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	dev := b.U32("deviceId")
	if e.header != nil && !b.Has("deviceId") {
		dev = e.header.DeviceID
	}
	set("device", c.idName(recDeviceName, dev))
	set("user", c.user(b.U32("userId")))
	set("source_user", c.user(b.U32("sourceUserId")))
	set("destination_user", c.user(b.U32("destinationUserId")))
	set("application", c.idName(recAppProto, b.U32("applicationId")))
	set("client_application", c.idName(recClientApp, b.U32("clientApplicationId")))
	set("web_application", c.idName(recWebApp, b.U32("webApplicationId")))
	for _, f := range []struct{ field, name string }{
		{"securityZoneIngressUuid", "ingress_zone"}, {"securityZoneEgressUuid", "egress_zone"},
		{"ingressZone", "ingress_zone"}, {"egressZone", "egress_zone"},
		{"ingressZoneUuid", "ingress_zone"}, {"egressZoneUuid", "egress_zone"},
		{"interfaceIngressUuid", "ingress_interface"}, {"interfaceEgressUuid", "egress_interface"},
		{"ingressInterface", "ingress_interface"}, {"egressInterface", "egress_interface"},
		{"ingressInterfaceUuid", "ingress_interface"}, {"egressInterfaceUuid", "egress_interface"},
		{"policyUuid", "intrusion_policy"}, {"intrusionPolicy", "intrusion_policy"},
		{"accessControlPolicyUuid", "access_control_policy"}, {"policyRevision", "access_control_policy"},
		{"accessControlPolicyRevision", "access_control_policy"},
		{"securityIntelligenceUuid", "security_intelligence_category"},
	} {
		if b.Has(f.field) {
			set(f.name, c.uuidName(b.UUID(f.field)))
		}
	}
	c.enrichRules(b, set)
	c.enrichTraffic(b, set)
	c.enrichAlert(b, set)
	return out
}

// enrichRules resolves access control rule names and countries.
func (c *cache) enrichRules(b *wire.Block, set func(k, v string)) {
	for _, f := range []struct{ policy, rule string }{
		{"accessControlPolicyUuid", "accessControlRuleId"}, {"accessControlPolicyRevision", "accessControlRuleId"},
		{"policyRevision", "ruleId"},
	} {
		if b.Has(f.policy) && b.Has(f.rule) {
			set("access_control_rule", c.acRule(b.UUID(f.policy), b.U32(f.rule)))
		}
	}
	for _, f := range []struct{ field, name string }{
		{"sourceCountry", "source_country"}, {"destinationCountry", "destination_country"},
		{"initiatorCountry", "initiator_country"}, {"responderCountry", "responder_country"},
	} {
		if b.Has(f.field) {
			set(f.name, c.country(uint16(b.Uint(f.field))))
		}
	}
}

// enrichTraffic resolves the connection-level names the rules select on:
// action, URL category and reputation, Security Intelligence category.
func (c *cache) enrichTraffic(b *wire.Block, set func(k, v string)) {
	if b.Has("ruleAction") {
		set("action", c.idName(recRuleAction, b.U32("ruleAction")))
	}
	if b.Has("urlCategory") {
		set("url_category", c.idName(recURLCategory, b.U32("urlCategory")))
		set("url_reputation", c.idName(recURLRep, b.U32("urlReputation")))
	}
	if b.Has("securityIntelligenceList1") {
		pol := b.UUID("policyRevision")
		set("security_intelligence_category", c.siCategory(pol, b.U32("securityIntelligenceList1")))
		set("security_intelligence_category_2", c.siCategory(pol, b.U32("securityIntelligenceList2")))
		set("security_intelligence_source_destination", c.idName(recSISrcDst, b.U32("securityIntelligenceSourceDestination")))
	}
}

// enrichAlert resolves rule messages, classifications, priorities, and
// the correlation and IoC names.
func (c *cache) enrichAlert(b *wire.Block, set func(k, v string)) {
	if b.Has("generatorId") {
		if r := c.rule(b.U32("generatorId"), b.U32("ruleId")); r != nil {
			set("rule_message", r.Message)
		}
	}
	if b.Has("signatureGeneratorId") && b.U32("signatureId") != 0 {
		if r := c.rule(b.U32("signatureGeneratorId"), b.U32("signatureId")); r != nil {
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
	if b.Has("correlationEventSecond") {
		set("priority", c.priority(b.U32("priority")))
		set("correlation_policy", c.corrPolicy(b.U32("policyId")))
		set("correlation_rule", c.corrRule(b.U32("ruleId")))
	}
	if b.Has("iocId") {
		if n := c.ioc(b.U32("iocId")); n != nil {
			set("ioc_category", n.Category)
			set("ioc_event_type", n.EventType)
		}
	}
}
