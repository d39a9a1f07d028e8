// Package estreamer is the Cisco Firepower eStreamer collector (kind
// "estreamer"): a mutual-TLS client of a Firepower Management Center that
// requests intrusion, connection, file and malware events, caches the
// metadata records to resolve names, turns the events chosen by its rules
// into submissions (with packet data as a pcap file), and resumes after a
// reconnect from a bookmark that only advances after Submit returned.
package estreamer

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// Kind is the collector type name.
const Kind = "estreamer"

// Submission constants.
const (
	Tool                = "ace-collector estreamer"
	DefaultAnalysisMode = "correlation"
)

//go:embed sample.ini
var sampleConfig []byte

func init() {
	collector.Register(collector.Kind{
		Name:    Kind,
		Summary: "Cisco Firepower eStreamer client: submits intrusion, correlation, IoC, file, malware and selected connection events from an FMC, resuming from a bookmark",
		Sample:  sampleConfig,
		New:     New,
	})
}

// Verify modes for the server certificate.
const (
	VerifyFull  = "full"  // chain and host name
	VerifyChain = "chain" // chain against the CA (PKCS#12 or ca_file), no host name
	VerifyOff   = "off"   // no verification (eNcore behaviour), explicit only
)

// Config is the parsed [collector_NAME] section.
type Config struct {
	Host           string
	Port           int
	TLS            TLSFiles
	Verify         string
	ServerName     string
	MinTLS         uint16
	ConnectTimeout time.Duration
	IdleTimeout    time.Duration
	WriteTimeout   time.Duration
	ReconnectMin   time.Duration
	ReconnectMax   time.Duration

	Flags      uint32
	Events     []wire.EventVersion
	LengthConv wire.LengthConvention
	Start      uint32 // initial timestamp when there is no bookmark
	Resume     bool
	MaxMessage uint32

	Rules      Rules
	IgnoreUser userFilter
	PacketData bool
	PacketWait time.Duration
	Fields     collector.SubmissionFields
	WorkDir    string
}

// TLSFiles names the client credentials.
type TLSFiles struct {
	PKCS12File, PKCS12Password string
	CertFile, KeyFile, CAFile  string
}

// New builds the collector from its section.
func New(sec *collector.Section, g collector.Global) (collector.Collector, error) {
	c, err := ParseConfig(sec, g)
	if err != nil {
		return nil, err
	}
	return &Collector{cfg: c, cache: newCache(), warn: newLogLimiter(warnEvery)}, nil
}

// ParseConfig reads every key of the section, reporting bad values
// through sec.
func ParseConfig(sec *collector.Section, g collector.Global) (Config, error) {
	c := Config{
		Host: sec.Required("host"),
		Port: sec.Int("port", 8302, 1, 65535),
		TLS: TLSFiles{
			PKCS12File:     g.Path(sec.String("pkcs12_file", "")),
			PKCS12Password: sec.String("pkcs12_password", ""),
			CertFile:       g.Path(sec.String("cert_file", "")),
			KeyFile:        g.Path(sec.String("key_file", "")),
			CAFile:         g.Path(sec.String("ca_file", "")),
		},
		Verify:         sec.OneOf("verify", VerifyChain, VerifyFull, VerifyChain, VerifyOff),
		ServerName:     sec.String("server_name", ""),
		ConnectTimeout: sec.Duration("connect_timeout", 10*time.Second),
		IdleTimeout:    sec.Duration("idle_timeout", 5*time.Minute),
		WriteTimeout:   sec.Duration("write_timeout", 30*time.Second),
		ReconnectMin:   sec.Duration("reconnect_min", time.Second),
		ReconnectMax:   sec.Duration("reconnect_max", 5*time.Minute),
		Resume:         sec.Bool("resume", true),
		MaxMessage:     uint32(sec.Size("max_message_size", wire.DefaultMaxMessage)),
		PacketData:     sec.Bool("packet_data", true),
		PacketWait:     sec.Duration("packet_wait", 2*time.Second),
		// No default type: each event kind has its own (buildSubmission).
		Fields: collector.ParseSubmissionFields(sec, collector.SubmissionDefaults{
			AnalysisMode: DefaultAnalysisMode, Tool: Tool}),
		WorkDir: g.Path(sec.String("work_dir", "")),
	}
	switch v := sec.OneOf("tls_min_version", "1.2", "1.0", "1.1", "1.2", "1.3"); v {
	case "1.0":
		c.MinTLS = 0x0301
	case "1.1":
		c.MinTLS = 0x0302
	case "1.3":
		c.MinTLS = 0x0304
	default:
		c.MinTLS = 0x0303
	}
	parseCredentials(sec, &c)
	c.Rules = parseRules(sec)
	c.IgnoreUser = parseUserFilter(sec)
	parseRequest(sec, &c)
	for _, k := range []struct {
		key string
		d   time.Duration
	}{{"connect_timeout", c.ConnectTimeout}, {"idle_timeout", c.IdleTimeout}, {"write_timeout", c.WriteTimeout}, {"reconnect_min", c.ReconnectMin}, {"packet_wait", c.PacketWait}} {
		if k.d <= 0 {
			sec.Errorf(k.key, "must be positive")
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		sec.Errorf("reconnect_max", "must not be less than reconnect_min (%s)", c.ReconnectMin)
		c.ReconnectMax = c.ReconnectMin
	}
	if c.MaxMessage < 1024 {
		sec.Errorf("max_message_size", "must be at least 1k")
		c.MaxMessage = wire.DefaultMaxMessage
	}
	if c.WorkDir == "" {
		c.WorkDir = os.TempDir()
	}
	return c, nil
}

func parseCredentials(sec *collector.Section, c *Config) {
	f := c.TLS
	switch {
	case f.PKCS12File != "" && (f.CertFile != "" || f.KeyFile != ""):
		sec.Errorf("pkcs12_file", "set either pkcs12_file or cert_file/key_file, not both")
	case f.PKCS12File == "" && (f.CertFile == "" || f.KeyFile == ""):
		sec.Errorf("pkcs12_file", "required (or cert_file and key_file): the FMC-issued client credentials")
	case missing(f.PKCS12File) || missing(f.CertFile) || missing(f.KeyFile) || missing(f.CAFile):
		// Not provisioned yet: the collector logs the missing file at
		// every connection attempt (with backoff) instead of refusing
		// the whole configuration.
	default:
		creds, err := loadCredentials(f)
		if err != nil {
			key := "pkcs12_file"
			if f.PKCS12File == "" {
				key = "cert_file"
			}
			sec.Errorf(key, "%v", err)
		} else if c.Verify != VerifyOff && len(creds.CAs) == 0 && c.Verify == VerifyChain {
			sec.Errorf("verify", "chain verification needs a CA: the PKCS#12 file has none and ca_file is not set (use ca_file, verify = full with system roots, or verify = off)")
		}
	}
}

// missing reports whether a configured file does not exist.
func missing(path string) bool {
	if path == "" {
		return false
	}
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

func parseRequest(sec *collector.Section, c *Config) {
	c.Flags = requestFlags(c.Rules.Kinds, c.PacketData)
	if sec.Has("request_flags") {
		f, err := wire.ParseFlags(sec.String("request_flags", ""))
		if err != nil {
			sec.Errorf("request_flags", "%v", err)
		} else {
			c.Flags = f
		}
	} else {
		sec.Ignore("request_flags")
	}
	if c.Flags&wire.FlagArchiveTimestamp == 0 && c.Resume {
		sec.Errorf("request_flags", "resume needs archive timestamps (archive_timestamps / bit 23); set it or resume = no")
	}
	c.Events = eventTypes(c.Rules.Kinds)
	if sec.Has("event_types") {
		ev, err := parseEventTypes(sec.List("event_types"))
		if err != nil {
			sec.Errorf("event_types", "%v", err)
		} else {
			c.Events = ev
		}
	} else {
		sec.Ignore("event_types")
	}
	if sec.OneOf("streaming_length", "including", "including", "excluding") == "excluding" {
		c.LengthConv = wire.LengthExcludingHeader
	}
	switch v := strings.ToLower(sec.String("start", "now")); v {
	case "now":
		c.Start = wire.TimestampNow
	case "oldest":
		c.Start = wire.TimestampOldest
	default:
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0xFFFFFFFF {
			sec.Errorf("start", "%q: want now, oldest or a UNIX time in seconds", v)
		}
		c.Start = uint32(n)
	}
}

// requestFlags is the flag word for the kinds the rules submit: the
// extended request, metadata and archive timestamps always; the intrusion
// bits (events, extra data, packets when packet_data is on) only when
// intrusion events are submitted. Impact alerts (bit 5) are never
// submitted, so they are not asked for. Under the extended request the
// families come from the event type list (eventTypes); the word is
// copied into the Streaming Request as the reference client does.
func requestFlags(kinds map[string]bool, packets bool) uint32 {
	f := wire.FlagExtended | wire.FlagMetadata | wire.FlagArchiveTimestamp
	if kinds[KindIntrusion] {
		f |= wire.FlagIntrusion | wire.FlagExtraData
		if packets {
			f |= wire.FlagPacketData
		}
	}
	return f
}

// familyOf maps each extended-request event type to the rule kinds whose
// records it delivers; metadata is always requested (names), user and
// impact events never (no kind submits them).
var familyOf = map[uint16][]string{
	wire.EventTypeIntrusion:   {KindIntrusion},
	wire.EventTypeCorrelation: {KindCorrelation},
	wire.EventTypeDiscovery:   {KindIOC}, // IoC sets (160) are discovery events
	wire.EventTypeConnection:  {KindConnection},
	wire.EventTypeMalware:     {KindMalware},
	wire.EventTypeFile:        {KindFile, KindFileMalware},
}

// eventTypes is the reference client's (type, version) list restricted to
// the families the rules can submit, plus metadata.
func eventTypes(kinds map[string]bool) []wire.EventVersion {
	var out []wire.EventVersion
	for _, ev := range wire.DefaultEventVersions {
		want := ev.Type == wire.EventTypeMetadata
		for _, k := range familyOf[ev.Type] {
			want = want || kinds[k]
		}
		if want {
			out = append(out, ev)
		}
	}
	return out
}

// parseEventTypes parses "name_or_code:version" items.
func parseEventTypes(items []string) ([]wire.EventVersion, error) {
	var out []wire.EventVersion
	for _, it := range items {
		name, ver, ok := strings.Cut(it, ":")
		if !ok {
			return nil, fmt.Errorf("%q: want TYPE:VERSION, e.g. intrusion:11 or 12:11", it)
		}
		code, known := wire.EventTypeNames[strings.ToLower(strings.TrimSpace(name))]
		if !known {
			n, err := strconv.ParseUint(strings.TrimSpace(name), 10, 16)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("%q: unknown event type %q", it, name)
			}
			code = uint16(n)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(ver), 10, 16)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("%q: version must be a positive number", it)
		}
		out = append(out, wire.EventVersion{Type: code, Version: uint16(v)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	return out, nil
}
