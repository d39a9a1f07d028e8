package api

import (
	"net/http"

	"github.com/ace-collector/ace-collector/collector"
)

// The answers of ACE's common/get_valid_* endpoints, which ace_api.py's
// get_valid_companies, get_valid_observables and get_valid_directives call.

// ValidObservables are the observable types this receiver accepts, with
// ACE's descriptions (deprecated types left out, as ACE does).
var ValidObservables = []NameDescription{
	{collector.ObsIPv4, "IP address (version 4)"},
	{collector.ObsIPv6, "IP address (version 6)"},
	{collector.ObsIPv4Conversation, "two IPv4 addresses that communicated"},
	{collector.ObsIPv4FullConversation, "two IPv4 addresses and ports that communicated (src:sport:dst:dport)"},
	{collector.ObsFQDN, "fully qualified domain name"},
	{collector.ObsHostname, "host or workstation name"},
	{collector.ObsURL, "a URL"},
	{collector.ObsURI, "the path of a URL"},
	{collector.ObsEmailAddress, "email address"},
	{collector.ObsEmailConversation, "a conversation between a source email address (MAIL FROM) and a destination email address (RCPT TO)"},
	{collector.ObsEmailSubject, "the subject of an email"},
	{collector.ObsEmailDelivery, "a delivery of an email to a target mailbox"},
	{collector.ObsMessageID, "email Message-ID"},
	{collector.ObsFile, "path to an attached file"},
	{collector.ObsFileName, "a file name (no directory path)"},
	{collector.ObsFilePath, "a file path"},
	{collector.ObsFileLocation, "the location of file with format hostname@full_path"},
	{collector.ObsMD5, "MD5 hash"},
	{collector.ObsSHA1, "SHA1 hash"},
	{collector.ObsSHA256, "SHA256 hash"},
	{collector.ObsUser, "an NT user ID identified by the format DOMAIN\\user"},
	{collector.ObsMAC, "network card mac address"},
	{collector.ObsSnortSignature, "snort signature ID"},
	{collector.ObsCommandLine, "command line options to a command that was executed"},
	{collector.ObsPCAP, "path to a pcap formatted file *** DEPRECATED (use F_FILE instead)"},
	{collector.ObsTestObservable, "testing observable"},
}

// ValidDirectives are the directives collectors attach, with ACE's
// descriptions.
var ValidDirectives = []NameDescription{
	{collector.DirectiveNoScan, "do not scan this file with yara"},
	{collector.DirectiveOriginalEmail, "treat this file as the original email file"},
	{collector.DirectiveOriginalSMTP, "treat this file as the original smtp stream"},
	{collector.DirectiveArchive, "archive the file"},
	{collector.DirectiveExcludeAll, "instruct ACE to NOT analyze this observable at all"},
	{collector.DirectiveRenameAnalysis, "rename the analysis description to the value of this observable"},
	{collector.DirectiveExtractPCAP, "extract PCAP for the given observable and given time"},
}

// NameDescription is one entry of a get_valid_* answer.
type NameDescription struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

func (s *Server) validRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/common/get_valid_companies", func(w http.ResponseWriter, r *http.Request) {
		name := s.opts.CompanyName
		if name == "" {
			name = "default"
		}
		writeJSON(w, map[string]any{"result": []map[string]any{{"id": 1, "name": name}}})
	})
	mux.HandleFunc("GET /api/common/get_valid_observables", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"result": ValidObservables})
	})
	mux.HandleFunc("GET /api/common/get_valid_directives", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"result": ValidDirectives})
	})
}
