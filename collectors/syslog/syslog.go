// Package syslog is the "syslog" collector: it listens on UDP, TCP and
// TLS, parses RFC 5424 / RFC 3164 messages and CEF / LEEF payloads, and
// turns the events its rules select into ACE submissions — one per event,
// or one per aggregation key and time window. Everything else is counted.
package syslog

import (
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/netobs"
)

// Kind is the collector type name.
const Kind = "syslog"

//go:embed sample.ini
var sampleConfig []byte

func init() {
	collector.Register(collector.Kind{
		Name:    Kind,
		Summary: "syslog listener (UDP, TCP, TLS): submits the RFC 5424/3164, CEF and LEEF events its rules select",
		Sample:  sampleConfig,
		New:     New,
	})
}

// Config is the parsed [collector_NAME] section.
type Config struct {
	ListenUDP, ListenTCP, ListenTLS string
	TLS                             *tls.Config
	UDPReadBuffer                   int
	MaxMessageSize                  int
	QueueSize                       int
	Workers                         int
	MaxConnections                  int
	Rules                           netobs.Rules
	Extractors                      netobs.Extractors
	AggregateBy                     []string
	// AggregateByRule overrides AggregateBy for a rule's events
	// (aggregate_by_<rule>); an empty list means one submission per event.
	AggregateByRule    map[string][]string
	AggregateWindow    time.Duration
	AggregateMaxEvents int
	AggregateMaxKeys   int
	ShutdownTimeout    time.Duration
	RFC3164Location    *time.Location
	Fields             collector.SubmissionFields
}

// Collector is a running syslog listener.
type Collector struct {
	cfg Config
}

// New builds the collector from its section.
func New(sec *collector.Section, g collector.Global) (collector.Collector, error) {
	c := Config{
		ListenUDP:          sec.String("listen_udp", ""),
		ListenTCP:          sec.String("listen_tcp", ""),
		ListenTLS:          sec.String("listen_tls", ""),
		UDPReadBuffer:      int(sec.Size("udp_read_buffer", 4<<20)),
		MaxMessageSize:     int(sec.Size("max_message_size", 64<<10)),
		QueueSize:          sec.Int("queue_size", 10000, 1, 10_000_000),
		Workers:            sec.Int("workers", 2, 1, 256),
		MaxConnections:     sec.Int("max_connections", 1000, 1, 1_000_000),
		Rules:              netobs.LoadRules(sec),
		Extractors:         netobs.LoadExtractors(sec),
		AggregateBy:        sec.List("aggregate_by"),
		AggregateWindow:    sec.Duration("aggregate_window", 60*time.Second),
		AggregateMaxEvents: sec.Int("aggregate_max_events", 10, 1, 10000),
		AggregateMaxKeys:   sec.Int("aggregate_max_keys", 10000, 1, 10_000_000),
		ShutdownTimeout:    sec.Duration("shutdown_timeout", 10*time.Second),
		Fields: collector.ParseSubmissionFields(sec, collector.SubmissionDefaults{
			AnalysisMode: "correlation", Type: "syslog", Tool: "syslog"}),
	}
	for _, k := range []string{"listen_udp", "listen_tcp", "listen_tls"} {
		if v := sec.String(k, ""); v != "" {
			if _, _, err := net.SplitHostPort(v); err != nil {
				sec.Errorf(k, "%q is not HOST:PORT: %v", v, err)
			}
		}
	}
	if c.ListenUDP == "" && c.ListenTCP == "" && c.ListenTLS == "" {
		sec.Errorf("listen_udp", "at least one of listen_udp, listen_tcp, listen_tls is required")
	}
	if c.MaxMessageSize < 480 || c.MaxMessageSize > 16<<20 {
		sec.Errorf("max_message_size", "%d is out of range 480..16M", c.MaxMessageSize)
		c.MaxMessageSize = 64 << 10
	}
	if c.UDPReadBuffer < 0 || c.UDPReadBuffer > 1<<30 {
		sec.Errorf("udp_read_buffer", "%d is out of range 0..1G", c.UDPReadBuffer)
	}
	c.AggregateByRule = loadAggregateByRule(sec, c.Rules)
	if c.aggregates() && c.AggregateWindow <= 0 {
		sec.Errorf("aggregate_window", "must be positive when aggregate_by is set")
	}
	checkFields(sec, &c)
	if tz := sec.String("rfc3164_timezone", "UTC"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			sec.Errorf("rfc3164_timezone", "unknown time zone %q: %v", tz, err)
		}
		c.RFC3164Location = loc
	}
	cert, key, ca := sec.String("tls_cert", ""), sec.String("tls_key", ""), sec.String("tls_client_ca", "")
	if c.ListenTLS != "" {
		if cert == "" || key == "" {
			sec.Errorf("tls_cert", "tls_cert and tls_key are required with listen_tls")
		} else if tc, err := loadTLS(cert, key, ca); err != nil {
			sec.Errorf("tls_cert", "%v", err)
		} else {
			c.TLS = tc
		}
	}
	return &Collector{cfg: c}, nil
}

func loadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS key pair: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading tls_client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_client_ca %s holds no PEM certificate", caFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
