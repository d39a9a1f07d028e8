// Package smtp is the SMTP listener collector (kind "smtp"): an SMTP server
// that turns every accepted message into one submission with the original
// attached as email.rfc822, the observables of collectors/common/mailparse and
// the envelope. It answers 250 only after Submit returned, 451 when the
// store is unavailable and 552 when the message is too large. A message
// streams to a spool file that becomes the attachment; it is never held in
// memory.
package smtp

import (
	"crypto/tls"
	_ "embed"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/mailparse"
	"github.com/ace-collector/ace-collector/collectors/common/mailrules"
)

// Kind is the collector type name.
const Kind = "smtp"

// Submission constants.
const (
	Tool         = "ace-collector smtp"
	Type         = "smtp"
	AnalysisMode = "email"
	FileName     = "email.rfc822"
)

//go:embed sample.ini
var sampleConfig []byte

func init() {
	collector.Register(collector.Kind{
		Name:    Kind,
		Summary: "SMTP listener: submits every accepted message, answering 250 only once it is stored",
		Sample:  sampleConfig,
		New:     New,
	})
}

// Config is the parsed [collector_NAME] section.
type Config struct {
	Listen            string
	Domain            string
	TLS               *tls.Config // nil: no STARTTLS
	RequireTLS        bool
	MaxMessageSize    int64
	MaxRecipients     int
	MaxConnections    int
	MaxLineLength     int
	AllowedDomains    []string // lower case; empty: any
	AuthUser          string
	AuthPassword      string
	AllowInsecureAuth bool
	SpoolDir          string
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	SubmitTimeout     time.Duration
	ShutdownGrace     time.Duration
	Fields            collector.SubmissionFields
	Parse             mailparse.Options
	Rules             *mailrules.Set
	RulesCheck        time.Duration
}

// New builds the collector from its section.
func New(sec *collector.Section, g collector.Global) (collector.Collector, error) {
	c := Config{
		Listen:            sec.Required("listen"),
		Domain:            sec.String("hostname", g.Hostname),
		RequireTLS:        sec.Bool("require_tls", false),
		MaxMessageSize:    sec.Size("max_message_size", 25<<20),
		MaxRecipients:     sec.Int("max_recipients", 100, 1, 100000),
		MaxConnections:    sec.Int("max_connections", 100, 1, 100000),
		MaxLineLength:     int(sec.Size("max_line_length", 1<<20)),
		AuthUser:          sec.String("auth_user", ""),
		AuthPassword:      sec.String("auth_password", ""),
		AllowInsecureAuth: sec.Bool("allow_insecure_auth", false),
		SpoolDir:          g.Path(sec.String("spool_dir", "")),
		ReadTimeout:       sec.Duration("read_timeout", 5*time.Minute),
		WriteTimeout:      sec.Duration("write_timeout", time.Minute),
		SubmitTimeout:     sec.Duration("submit_timeout", time.Minute),
		ShutdownGrace:     sec.Duration("shutdown_grace", 10*time.Second),
		Fields: collector.ParseSubmissionFields(sec, collector.SubmissionDefaults{
			AnalysisMode: AnalysisMode, Type: Type, Tool: Tool}),
		Parse: mailparse.OptionsFromConfig(sec),
	}
	for _, d := range sec.List("allowed_rcpt_domains") {
		c.AllowedDomains = append(c.AllowedDomains, strings.ToLower(strings.TrimPrefix(d, "@")))
	}
	cert, key := g.Path(sec.String("tls_cert", "")), g.Path(sec.String("tls_key", ""))
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			sec.Errorf("tls_cert", "loading certificate and key: %v", err)
		} else {
			c.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		}
	case cert != "" || key != "":
		sec.Errorf("tls_key", "tls_cert and tls_key must be set together")
	}
	if c.RequireTLS && cert == "" {
		sec.Errorf("require_tls", "needs tls_cert and tls_key")
	}
	if (c.AuthUser == "") != (c.AuthPassword == "") {
		sec.Errorf("auth_password", "auth_user and auth_password must be set together")
	}
	if c.AuthUser != "" && cert == "" && !c.AllowInsecureAuth {
		sec.Errorf("auth_user", "AUTH needs STARTTLS (tls_cert, tls_key) or allow_insecure_auth = yes")
	}
	if c.MaxMessageSize <= 0 {
		sec.Errorf("max_message_size", "must be positive")
	}
	if c.SpoolDir == "" {
		c.SpoolDir = filepath.Join(os.TempDir(), "ace-collector-smtp-"+safe(strings.TrimPrefix(sec.Name(), "collector_")))
	}
	c.Rules, c.RulesCheck = mailrules.FromConfig(sec, g)
	return &Collector{cfg: c, ready: make(chan struct{}), parsing: make(slots, max(2, runtime.GOMAXPROCS(0)))}, nil
}

func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
