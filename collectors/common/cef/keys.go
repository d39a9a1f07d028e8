package cef

import "sort"

// cefKeys is the CEF extension dictionary (ArcSight "Implementing
// ArcSight CEF", revision 25): key names and, after them, the full names
// some devices send instead.
var cefKeys = []string{
	"act", "app", "c6a1", "c6a1Label", "c6a3", "c6a3Label", "c6a4", "c6a4Label", "cat",
	"cfp1", "cfp1Label", "cfp2", "cfp2Label", "cfp3", "cfp3Label", "cfp4", "cfp4Label",
	"cn1", "cn1Label", "cn2", "cn2Label", "cn3", "cn3Label", "cnt",
	"cs1", "cs1Label", "cs2", "cs2Label", "cs3", "cs3Label", "cs4", "cs4Label", "cs5", "cs5Label", "cs6", "cs6Label",
	"destinationDnsDomain", "destinationServiceName", "destinationTranslatedAddress", "destinationTranslatedPort",
	"deviceCustomDate1", "deviceCustomDate1Label", "deviceCustomDate2", "deviceCustomDate2Label",
	"deviceDirection", "deviceDnsDomain", "deviceExternalId", "deviceFacility", "deviceInboundInterface",
	"deviceNtDomain", "deviceOutboundInterface", "devicePayloadId", "deviceProcessName", "deviceTranslatedAddress",
	"dhost", "dmac", "dntdom", "dpid", "dpriv", "dproc", "dpt", "dst", "dtz", "duid", "duser", "dvc", "dvchost",
	"dvcmac", "dvcpid", "end", "externalId", "fileCreateTime", "fileHash", "fileId", "fileModificationTime",
	"filePath", "filePermission", "fileType", "flexDate1", "flexDate1Label", "flexString1", "flexString1Label",
	"flexString2", "flexString2Label", "fname", "fsize", "in", "msg", "oldFileCreateTime", "oldFileHash",
	"oldFileId", "oldFileModificationTime", "oldFileName", "oldFilePath", "oldFilePermission", "oldFileSize",
	"oldFileType", "out", "outcome", "proto", "reason", "request", "requestClientApplication", "requestContext",
	"requestCookies", "requestMethod", "rt", "shost", "smac", "sntdom", "sourceDnsDomain", "sourceServiceName",
	"sourceTranslatedAddress", "sourceTranslatedPort", "spid", "spriv", "sproc", "spt", "src", "start", "suid",
	"suser", "type",
	"agentDnsDomain", "agentNtDomain", "agentTranslatedAddress", "agentTranslatedZoneExternalID",
	"agentTranslatedZoneURI", "agentZoneExternalID", "agentZoneURI", "agt", "ahost", "aid", "amac", "art", "at",
	"atz", "av", "customerExternalID", "customerURI", "destinationTranslatedZoneExternalID",
	"destinationTranslatedZoneURI", "destinationZoneExternalID", "destinationZoneURI",
	"deviceTranslatedZoneExternalID", "deviceTranslatedZoneURI", "deviceZoneExternalID", "deviceZoneURI",
	"dlat", "dlong", "eventId", "rawEvent", "slat", "slong", "sourceTranslatedZoneExternalID",
	"sourceTranslatedZoneURI", "sourceZoneExternalID", "sourceZoneURI",
	// Full names.
	"deviceAction", "applicationProtocol", "deviceCustomIPv6Address1", "deviceCustomIPv6Address3",
	"deviceCustomIPv6Address4", "deviceEventCategory", "deviceCustomFloatingPoint1",
	"deviceCustomFloatingPoint2", "deviceCustomFloatingPoint3", "deviceCustomFloatingPoint4",
	"deviceCustomNumber1", "deviceCustomNumber2", "deviceCustomNumber3", "baseEventCount",
	"deviceCustomString1", "deviceCustomString2", "deviceCustomString3", "deviceCustomString4",
	"deviceCustomString5", "deviceCustomString6", "destinationHostName", "destinationMacAddress",
	"destinationNtDomain", "destinationProcessId", "destinationUserPrivileges", "destinationProcessName",
	"destinationPort", "destinationAddress", "deviceTimeZone", "destinationUserId", "destinationUserName",
	"deviceAddress", "deviceHostName", "deviceMacAddress", "deviceProcessId", "endTime", "fileName", "fileSize",
	"bytesIn", "message", "bytesOut", "eventOutcome", "transportProtocol", "requestUrl", "deviceReceiptTime",
	"sourceHostName", "sourceMacAddress", "sourceNtDomain", "sourceProcessId", "sourceUserPrivileges",
	"sourceProcessName", "sourcePort", "sourceAddress", "startTime", "sourceUserId", "sourceUserName",
	"agentAddress", "agentHostName", "agentId", "agentMacAddress", "agentReceiptTime", "agentType",
	"agentTimeZone", "agentVersion", "deviceLatitude", "deviceLongitude", "destinationLatitude",
	"destinationLongitude", "sourceLatitude", "sourceLongitude",
}

// leefKeys are LEEF's predefined attributes (IBM QRadar "LEEF event
// components"), and sev, which carries a LEEF event's severity.
var leefKeys = []string{
	"cat", "devTime", "devTimeFormat", "proto", "sev", "src", "dst", "srcPort", "dstPort", "srcPreNAT",
	"dstPreNAT", "srcPostNAT", "dstPostNAT", "usrName", "srcMAC", "dstMAC", "srcPreNATPort", "dstPreNATPort",
	"srcPostNATPort", "dstPostNATPort", "identSrc", "identHostName", "identNetBios", "identGrpName",
	"identMAC", "vSrc", "vSrcName", "accountName", "srcBytes", "dstBytes", "srcPackets", "dstPackets",
	"totalPackets", "role", "realm", "policy", "resource", "url", "groupID", "domain", "isLoginEvent",
	"isLogoutEvent", "identSecondlp", "calLanguage", "AttributeLimits", "calCountryOrRegion",
}

var standardKeys = func() map[string]bool {
	m := make(map[string]bool, len(cefKeys)+len(leefKeys))
	for _, k := range cefKeys {
		m[k] = true
	}
	for _, k := range leefKeys {
		m[k] = true
	}
	for _, km := range keyMap { // and every key Observables reads
		for _, k := range km.keys {
			m[k] = true
		}
	}
	return m
}()

// IsStandardKey reports whether k is a key of the CEF extension
// dictionary, a predefined LEEF attribute or a key Observables maps. Vendor keys (FTNTFGTlevel,
// TrendMicroDsTenant, PAN-OS's SerialNumber) are not.
func IsStandardKey(k string) bool { return standardKeys[k] }

// StandardKeys returns the CEF and LEEF standard keys, sorted.
func StandardKeys() []string {
	out := make([]string, 0, len(standardKeys))
	for k := range standardKeys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
