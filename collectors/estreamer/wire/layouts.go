package wire

// Block layouts of the event records, restated from reference §6.3–§6.7.
// Every list starts with the block type and length fields.

func hdr() []Field { return []Field{{"blockType", KU32}, {"blockLength", KU32}} }

// intrusionFields builds the intrusion event layouts. Block 85 is the
// newest; 81 ends after snortVersion; 60 drops blockedReasonId, the VRF
// names and snortVersion; 41 ends after iocNumber (reference §6.3).
func intrusionFields(block uint32) []Field {
	f := append(hdr(),
		Field{"deviceId", KU32}, Field{"eventId", KU32}, Field{"eventSecond", KU32},
		Field{"eventMicrosecond", KU32}, Field{"ruleId", KU32}, Field{"generatorId", KU32},
		Field{"ruleRevision", KU32}, Field{"classificationId", KU32}, Field{"priorityId", KU32},
		Field{"sourceIpAddress", KIP}, Field{"destinationIpAddress", KIP},
		Field{"sourcePortOrIcmpType", KU16}, Field{"destinationPortOrIcmpType", KU16},
		Field{"ipProtocolId", KU8}, Field{"impactFlags", KU8}, Field{"impact", KU8}, Field{"blocked", KU8})
	if block >= 81 {
		f = append(f, Field{"blockedReasonId", KU8})
	}
	f = append(f,
		Field{"mplsLabel", KU32}, Field{"vlanId", KU16}, Field{"pad", KU16},
		Field{"policyUuid", KUUID}, Field{"userId", KU32}, Field{"webApplicationId", KU32},
		Field{"clientApplicationId", KU32}, Field{"applicationId", KU32},
		Field{"accessControlRuleId", KU32}, Field{"accessControlPolicyUuid", KUUID},
		Field{"interfaceIngressUuid", KUUID}, Field{"interfaceEgressUuid", KUUID},
		Field{"securityZoneIngressUuid", KUUID}, Field{"securityZoneEgressUuid", KUUID},
		Field{"connectionTimestamp", KU32}, Field{"connectionInstanceId", KU16},
		Field{"connectionCounter", KU16}, Field{"sourceCountry", KU16},
		Field{"destinationCountry", KU16}, Field{"iocNumber", KU16})
	if block == 41 {
		return f
	}
	f = append(f,
		Field{"securityContext", KRaw16}, Field{"sslCertificateFingerprint", KRaw20},
		Field{"sslActualAction", KU16}, Field{"sslFlowStatus", KU16},
		Field{"networkAnalysisPolicyUuid", KUUID}, Field{"httpResponse", KU32})
	if block == 60 {
		return f
	}
	f = append(f, Field{"ingressVRFName", KString}, Field{"egressVRFName", KString}, Field{"snortVersion", KU8})
	if block == 81 {
		return f
	}
	return append(f,
		Field{"originalSrcIP", KIP}, Field{"httpHostname", KString}, Field{"httpURI", KString},
		Field{"smtpAttachments", KString}, Field{"smtpFrom", KString},
		Field{"smtpHeaders", KString}, Field{"smtpTo", KString})
}

// connection block versions in order; a field tagged with a version is
// present in that block type and every later one (reference §6.5).
var connectionBlocks = []uint32{160, 163, 168, 169, 170, 171, 173, 174}

type connField struct {
	Field
	since uint32 // first block type with the field
	only  uint32 // if set, the only block type with the field
}

func cf(name string, k Kind, since uint32) connField {
	return connField{Field: Field{name, k}, since: since}
}

var connectionAll = []connField{
	cf("deviceId", KU32, 160), cf("ingressZone", KUUID, 160), cf("egressZone", KUUID, 160),
	cf("ingressInterface", KUUID, 160), cf("egressInterface", KUUID, 160),
	cf("initiatorIpAddress", KIP, 160), cf("responderIpAddress", KIP, 160),
	cf("originalClientIpAddress", KIP, 163), cf("policyRevision", KUUID, 160),
	cf("ruleId", KU32, 160), cf("tunnelRuleId", KU32, 163), cf("ruleAction", KU16, 160),
	cf("ruleReason", KU32, 160), cf("initiatorPort", KU16, 160), cf("responderPort", KU16, 160),
	cf("tcpFlag", KU16, 160), cf("protocol", KU8, 160), cf("netflowSource", KUUID, 160),
	cf("instanceId", KU16, 160), cf("connectionCounter", KU16, 160),
	cf("firstPacketTimestamp", KU32, 160), cf("lastPacketTimestamp", KU32, 160),
	cf("initiatorTransmittedPackets", KU64, 160), cf("responderTransmittedPackets", KU64, 160),
	cf("initiatorTransmittedBytes", KU64, 160), cf("responderTransmittedBytes", KU64, 160),
	cf("initiatorPacketsDropped", KU64, 163), cf("responderPacketsDropped", KU64, 163),
	cf("initiatorBytesDropped", KU64, 163), cf("responderBytesDropped", KU64, 163),
	cf("qosAppliedInterface", KUUID, 163), cf("qosRuleId", KU32, 163),
	cf("userId", KU32, 160), cf("applicationId", KU32, 160), cf("urlCategory", KU32, 160),
	cf("urlReputation", KU32, 160), cf("clientApplicationId", KU32, 160),
	cf("webApplicationId", KU32, 160), cf("clientUrl", KString, 160), cf("netbios", KString, 160),
	cf("clientApplicationVersion", KString, 160),
	cf("monitorRule1", KU32, 160), cf("monitorRule2", KU32, 160), cf("monitorRule3", KU32, 160),
	cf("monitorRule4", KU32, 160), cf("monitorRule5", KU32, 160), cf("monitorRule6", KU32, 160),
	cf("monitorRule7", KU32, 160), cf("monitorRule8", KU32, 160),
	cf("securityIntelligenceSourceDestination", KU8, 160), cf("securityIntelligenceLayer", KU8, 160),
	cf("fileEventCount", KU16, 160), cf("intrusionEventCount", KU16, 160),
	cf("initiatorCountry", KU16, 160), cf("responderCountry", KU16, 160),
	cf("originalClientCountry", KU16, 163), cf("iocNumber", KU16, 160),
	cf("sourceAutonomousSystem", KU32, 160), cf("destinationAutonomousSystem", KU32, 160),
	cf("snmpIn", KU16, 160), cf("snmpOut", KU16, 160), cf("sourceTos", KU8, 160),
	cf("destinationTos", KU8, 160), cf("sourceMask", KU8, 160), cf("destinationMask", KU8, 160),
	cf("securityContext", KUUID, 160), cf("vlanId", KU16, 160), cf("referencedHost", KString, 160),
	cf("userAgent", KString, 160), cf("httpReferrer", KString, 160),
	cf("sslCertificateFingerprint", KRaw20, 160), cf("sslPolicyId", KUUID, 160),
	cf("sslRuleId", KU32, 160), cf("sslCipherSuite", KU16, 160), cf("sslVersion", KU8, 160),
	cf("sslServerCertificateStatus", KU32, 160), cf("sslActualAction", KU16, 160),
	cf("sslExpectedAction", KU16, 160), cf("sslFlowStatus", KU16, 160), cf("sslFlowError", KU32, 160),
	cf("sslFlowMessages", KU32, 160), cf("sslFlowFlags", KU64, 160), cf("sslServerName", KString, 160),
	cf("sslUrlCategory", KU32, 160), cf("sslSessionId", KRaw32, 160), cf("sslSessionIdLength", KU8, 160),
	cf("sslTicketId", KRaw20, 160), cf("sslTicketIdLength", KU8, 160),
	cf("networkAnalysisPolicyRevision", KUUID, 160), cf("endpointProfileId", KU32, 160),
	cf("securityGroupId", KU32, 160), cf("sourceSecurityGroupTag", KU16, 170),
	cf("sourceSecurityGroupTagType", KU8, 171), cf("destinationSecurityGroupTag", KU16, 170),
	cf("destinationSecurityGroupTagType", KU8, 171), cf("locationIpv6", KIP, 160),
	cf("httpResponse", KU32, 160), cf("dnsQuery", KString, 160), cf("dnsRecordType", KU16, 160),
	cf("dnsResponseType", KU16, 160), cf("dnsTtl", KU32, 160), cf("sinkholeUuid", KUUID, 160),
	cf("securityIntelligenceList1", KU32, 160), cf("securityIntelligenceList2", KU32, 160),
	{Field: Field{"securityIntelligenceList3", KU32}, only: 168},
	cf("threatIntelligenceCategory", KU32, 169),
	cf("eveProcess", KString, 174), cf("eveProcessConfidencePercentage", KU8, 174),
	cf("eveThreatConfidencePercentage", KU8, 174), cf("eveThreatConfidenceIndex", KU8, 174),
	cf("clientAppDectectorId", KU8, 174), cf("natInitiatorPort", KU16, 174),
	cf("natResponderPort", KU16, 174), cf("natInitiatorIp", KIP, 174), cf("natResponderIp", KIP, 174),
	cf("ingressVRFName", KString, 171), cf("egressVRFName", KString, 171),
	cf("sourceIpDynamicAttributes", KString, 173), cf("destIpDynamicAttributes", KString, 173),
}

func connectionFields(block uint32) []Field {
	f := hdr()
	for _, c := range connectionAll {
		switch {
		case c.only != 0:
			if c.only != block {
				continue
			}
		case c.since > block:
			continue
		}
		if block >= 173 && c.Name == "fileEventCount" {
			f = append(f, Field{"fileCount", c.Kind})
			continue
		}
		f = append(f, c.Field)
	}
	return f
}

// fileFields is the file event layout, block 56, or 79 with two VRF names.
func fileFields(block uint32) []Field {
	f := append(hdr(),
		Field{"deviceId", KU32}, Field{"connectionInstance", KU16}, Field{"connectionCounter", KU16},
		Field{"connectionTimestamp", KU32}, Field{"fileEventTimestamp", KU32},
		Field{"sourceIpAddress", KIP}, Field{"destinationIpAddress", KIP},
		Field{"disposition", KU8}, Field{"speroDisposition", KU8}, Field{"fileStorageStatus", KU8},
		Field{"fileAnalysisStatus", KU8}, Field{"localMalwareAnalysisStatus", KU8},
		Field{"archiveFileStatus", KU8}, Field{"threatScore", KU8}, Field{"action", KU8},
		Field{"shaHash", KRaw32}, Field{"fileTypeId", KU32}, Field{"fileName", KString},
		Field{"fileSize", KU64}, Field{"direction", KU8}, Field{"applicationId", KU32},
		Field{"userId", KU32}, Field{"uri", KString}, Field{"signature", KString},
		Field{"sourcePort", KU16}, Field{"destinationPort", KU16}, Field{"protocol", KU8},
		Field{"accessControlPolicyUuid", KUUID}, Field{"sourceCountry", KU16},
		Field{"destinationCountry", KU16}, Field{"webApplicationId", KU32},
		Field{"clientApplicationId", KU32})
	f = append(f, tlsArchiveTail()...)
	if block == 79 {
		f = append(f, Field{"ingressVRF", KString}, Field{"egressVRF", KString})
	}
	return f
}

func malwareFields() []Field {
	f := append(hdr(),
		Field{"agentUuid", KUUID}, Field{"cloudUuid", KUUID}, Field{"malwareEventTimestamp", KU32},
		Field{"eventTypeId", KU32}, Field{"eventSubtypeId", KU32}, Field{"detectorId", KU8},
		Field{"detectionName", KString}, Field{"user", KString}, Field{"fileName", KString},
		Field{"filePath", KString}, Field{"fileShaHash", KString}, Field{"fileSize", KU32},
		Field{"fileType", KU32}, Field{"fileTimestamp", KU32}, Field{"parentFileName", KString},
		Field{"parentShaHash", KString}, Field{"eventDescription", KString}, Field{"deviceId", KU32},
		Field{"connectionInstance", KU16}, Field{"connectionCounter", KU16},
		Field{"connectionEventTimestamp", KU32}, Field{"direction", KU8},
		Field{"sourceIpAddress", KIP}, Field{"destinationIpAddress", KIP},
		Field{"applicationId", KU32}, Field{"userId", KU32}, Field{"accessControlPolicyUuid", KUUID},
		Field{"disposition", KU8}, Field{"retroDisposition", KU8}, Field{"uri", KString},
		Field{"sourcePort", KU16}, Field{"destinationPort", KU16}, Field{"sourceCountry", KU16},
		Field{"destinationCountry", KU16}, Field{"webApplicationId", KU32},
		Field{"clientApplicationId", KU32}, Field{"action", KU8}, Field{"protocol", KU8},
		Field{"threatScore", KU8}, Field{"iocNumber", KU16})
	return append(f, tlsArchiveTail()...)
}

// tlsArchiveTail is the end file events (block 56/79) and malware events
// (block 62) share: security context, TLS inspection, archive, HTTP status.
func tlsArchiveTail() []Field {
	return []Field{
		{"securityContext", KRaw16}, {"sslCertificateFingerprint", KRaw20}, {"sslActualAction", KU16},
		{"sslFlowStatus", KU16}, {"archiveSha", KString}, {"archiveName", KString},
		{"archiveDepth", KU8}, {"httpResponse", KU32},
	}
}

// Series-2 block 4 (intrusion extra data, record 110) and series-1 block
// 153 (impact alert, record 9).
func extraDataFields() []Field {
	return append(hdr(), Field{"deviceId", KU32}, Field{"eventId", KU32},
		Field{"eventSecond", KU32}, Field{"type", KU32}, Field{"blob", KBlob})
}

func impactFields() []Field {
	return append(hdr(), Field{"eventId", KU32}, Field{"deviceId", KU32},
		Field{"eventSecond", KU32}, Field{"impact", KU32}, Field{"sourceIpAddress", KIP},
		Field{"destinationIpAddress", KIP}, Field{"description", KString})
}

// correlationFields is series-1 block 156, the correlation (policy)
// event of record 112, as eNcore 5.1.2 reads it (blocks_series1.py
// BLOCK_CORRELATION_EVENT_54). sourceIp and destinationIp are legacy
// IPv4 words, no longer filled; the addresses are the IPv6 fields.
func correlationFields() []Field {
	return append(hdr(),
		Field{"deviceId", KU32}, Field{"correlationEventSecond", KU32}, Field{"eventId", KU32},
		Field{"policyId", KU32}, Field{"ruleId", KU32}, Field{"priority", KU32},
		Field{"eventDescription", KString}, Field{"eventType", KU8}, Field{"eventDeviceId", KU32},
		Field{"signatureId", KU32}, Field{"signatureGeneratorId", KU32}, Field{"triggerEventSecond", KU32},
		Field{"triggerEventMicrosecond", KU32}, Field{"deviceEventId", KU32}, Field{"eventDefinedMask", KU32},
		Field{"eventImpactFlags", KU8}, Field{"ipProtocol", KU8}, Field{"networkProtocol", KU16},
		Field{"sourceIp", KU32}, Field{"sourceHostType", KU8}, Field{"sourceVlanId", KU16},
		Field{"sourceOperatingSystemFingerprintUuid", KUUID}, Field{"sourceCriticality", KU16},
		Field{"sourceUserId", KU32}, Field{"sourcePort", KU16}, Field{"sourceServerId", KU32},
		Field{"destinationIp", KU32}, Field{"destinationHostType", KU8}, Field{"destinationVlanId", KU16},
		Field{"destinationOperatingSystemFingerprintUuid", KUUID}, Field{"destinationCriticality", KU16},
		Field{"destinationUserId", KU32}, Field{"destinationPort", KU16}, Field{"destinationServerId", KU32},
		Field{"impact", KU8}, Field{"blocked", KU8}, Field{"intrusionPolicy", KUUID}, Field{"ruleAction", KU32},
		Field{"netbios", KString}, Field{"urlCategory", KU32}, Field{"urlReputation", KU32}, Field{"url", KString},
		Field{"clientId", KU32}, Field{"clientVersion", KString}, Field{"accessControlPolicyRevision", KUUID},
		Field{"accessControlRuleId", KU32}, Field{"ingressInterfaceUuid", KUUID}, Field{"egressInterfaceUuid", KUUID},
		Field{"ingressZoneUuid", KUUID}, Field{"egressZoneUuid", KUUID},
		Field{"sourceIpv6Address", KIP}, Field{"destinationIpv6Address", KIP},
		Field{"sourceCountry", KU16}, Field{"destinationCountry", KU16},
		Field{"securityIntelligenceUuid", KUUID}, Field{"securityContext", KRaw16},
		Field{"sslPolicyId", KRaw16}, Field{"sslRuleId", KU32}, Field{"sslActualAction", KU32},
		Field{"sslFlowStatus", KU32}, Field{"sslCertificateFingerprint", KRaw20})
}

// iocFields is series-1 block 7 (one integer): the IoC id of record 160,
// which follows a discovery header naming the host.
func iocFields() []Field { return append(hdr(), Field{"iocId", KU32}) }

var (
	intrusionLayouts  = map[uint32]*Layout{}
	connectionLayouts = map[uint32]*Layout{}
	fileLayouts       = map[uint32]*Layout{}
	malwareLayout     = newLayout("malware event block 62", 62, malwareFields())
	extraDataLayout   = newLayout("extra data block 4", 4, extraDataFields())
	impactLayout      = newLayout("impact alert block 153", 153, impactFields())
	correlationLayout = newLayout("correlation event block 156", 156, correlationFields())
	iocLayout         = newLayout("IoC integer block 7", 7, iocFields())
)

func init() {
	for _, b := range []uint32{41, 60, 81, 85} {
		intrusionLayouts[b] = newLayout("intrusion event block "+itoa(b), b, intrusionFields(b))
	}
	for _, b := range connectionBlocks {
		connectionLayouts[b] = newLayout("connection block "+itoa(b), b, connectionFields(b))
	}
	for _, b := range []uint32{56, 79} {
		fileLayouts[b] = newLayout("file event block "+itoa(b), b, fileFields(b))
	}
}

// LayoutFor returns the layout of an event block: family is "intrusion",
// "connection", "file", "malware", "extra_data", "impact", "correlation"
// or "ioc".
func LayoutFor(family string, block uint32) (*Layout, bool) {
	var l *Layout
	switch family {
	case "intrusion":
		l = intrusionLayouts[block]
	case "connection":
		l = connectionLayouts[block]
	case "file":
		l = fileLayouts[block]
	case "malware":
		if block == malwareLayout.Block {
			l = malwareLayout
		}
	case "extra_data":
		if block == extraDataLayout.Block {
			l = extraDataLayout
		}
	case "impact":
		if block == impactLayout.Block {
			l = impactLayout
		}
	case "correlation":
		if block == correlationLayout.Block {
			l = correlationLayout
		}
	case "ioc":
		if block == iocLayout.Block {
			l = iocLayout
		}
	}
	return l, l != nil
}
