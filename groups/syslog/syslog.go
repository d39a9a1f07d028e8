// Package syslog is the group type `syslog`: each submission becomes one
// syslog line (and optionally one per observable) sent to a SIEM over UDP,
// TCP or TLS, framed per RFC 5424 (octet counting or newline) or RFC 3164,
// formatted as CEF, LEEF, JSON or a Go text/template. See
// docs/groups/syslog.md.
package syslog

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/groups/internal/render"
	"github.com/ace-collector/ace-collector/groups/internal/tlsconf"
)

//go:embed sample.ini
var sample []byte

func init() {
	groups.RegisterType(groups.Type{
		Name:    "syslog",
		Summary: "a SIEM over syslog (UDP, TCP, TLS): CEF, LEEF, JSON or a template, one line per submission",
		Sample:  sample,
		Parse:   parse,
		Open:    open,
	})
}

// Settings are a syslog group's own keys.
type Settings struct {
	Target        string // udp://, tcp:// or tls://host:port, as configured
	Network       string // udp, tcp or tls
	Addr          string // host:port
	Header        Header
	Framing       string // octet or newline (streams); "" for udp
	Format        string // cef, leef, json or template
	Template      string // the template's text (format = template)
	PerObservable bool
	Event         Event
	TLS           tlsconf.Settings
	Timeout       time.Duration
}

func parse(s *collector.Section, _ groups.GroupConfig, env groups.ParseEnv) any {
	st := &Settings{Target: s.Required("target"), Timeout: s.Duration("timeout", 10*time.Second)}
	if st.Target != "" {
		var err error
		if st.Network, st.Addr, err = parseTarget(st.Target); err != nil {
			s.Errorf("target", "%v", err)
		}
	}
	st.Header = Header{
		Protocol: s.OneOf("protocol", "rfc5424", "rfc5424", "rfc3164"),
		Facility: slices.Index(facilities, s.OneOf("facility", "local0", facilities...)),
		Severity: slices.Index(severities, s.OneOf("severity", "notice", severities...)),
	}
	st.Header.Hostname = headerToken(s.String("hostname", env.Global.Hostname), 255)
	appMax := map[string]int{"rfc5424": 48, "rfc3164": 32}[st.Header.Protocol]
	st.Header.AppName = headerToken(s.String("app_name", "ace-collector"), appMax)
	framing := "octet"
	if st.Header.Protocol == "rfc3164" {
		framing = "newline"
	}
	st.Framing = s.OneOf("framing", framing, "octet", "newline")
	if st.Network == "udp" {
		st.Framing = "" // one message per datagram
	}
	st.Format = s.OneOf("format", "cef", "cef", "leef", "json", "template")
	st.PerObservable = s.Bool("per_observable", false)
	st.Event = Event{
		Vendor:   s.String("vendor", "ace-collector"),
		Product:  s.String("product", "ace-collector"),
		Version:  s.String("product_version", "1"),
		Severity: s.Int("event_severity", 5, 0, 10),
	}
	st.TLS = tlsconf.Parse(s, env.Global)
	st.Template = parseTemplate(s, st.Format, env.Global)
	return st
}

// parseTemplate reads template or template_file for format = template,
// and checks that it parses.
func parseTemplate(s *collector.Section, format string, g collector.Global) string {
	text := s.String("template", "")
	if file := s.ExistingFile("template_file", g); file != "" {
		if text != "" {
			s.Errorf("template_file", "template and template_file exclude each other")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			s.Errorf("template_file", "%v", err)
		}
		text = strings.TrimRight(string(b), "\r\n")
	}
	switch {
	case format != "template" && text != "":
		s.Errorf("template", "a template needs format = template")
	case format == "template" && text == "":
		s.Errorf("template", "format = template needs template or template_file")
	case format == "template":
		if _, err := render.ParseTemplate("line", text, templateFuncs); err != nil {
			s.Errorf("template", "%v", err)
		} else if !strings.Contains(text, ".UUID") {
			s.Warnf("template", "the lines carry no {{.UUID}}: a receiver cannot drop the duplicates at-least-once delivery allows")
		}
	}
	return text
}

// parseTarget splits udp://host:port, tcp://host:port or tls://host:port.
func parseTarget(t string) (network, addr string, err error) {
	u, err := url.Parse(t)
	if err != nil {
		return "", "", fmt.Errorf("%q: want udp://, tcp:// or tls://host:port", t)
	}
	switch {
	case u.Scheme != "udp" && u.Scheme != "tcp" && u.Scheme != "tls":
		return "", "", fmt.Errorf("%q: scheme %q: want udp, tcp or tls", t, u.Scheme)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
		return "", "", fmt.Errorf("%q: want only scheme://host:port", t)
	case u.Hostname() == "" || u.Port() == "":
		return "", "", fmt.Errorf("%q: want scheme://host:port", t)
	}
	return u.Scheme, u.Host, nil
}

func open(g groups.GroupConfig, log *slog.Logger) (groups.Delivery, error) {
	st, ok := g.Settings.(*Settings)
	if !ok {
		return nil, fmt.Errorf("syslog: group %s has no syslog settings", g.Name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Delivery{st: *st, group: g.Name, log: log, now: time.Now, pool: newPool()}
	if st.Format == "template" {
		t, err := render.ParseTemplate("line", st.Template, templateFuncs)
		if err != nil {
			return nil, fmt.Errorf("syslog template: %w", err)
		}
		d.tmpl = t
	}
	return d, nil
}

// Delivery sends a group's lines to one syslog receiver.
type Delivery struct {
	st    Settings
	group string
	tmpl  *template.Template
	log   *slog.Logger
	now   func() time.Time
	pool  *pool
}

// Targets is the receiver.
func (d *Delivery) Targets() []groups.Node {
	return []groups.Node{{Name: d.st.Target, Location: d.st.Target, AnyMode: true}}
}

// Deliver sends sub's lines. Over TCP and TLS they are complete when
// written to a connected stream; over UDP when sent. A line that cannot be
// rendered (a template failing on this submission) is permanent; anything
// the connection does is transient, and the connection is replaced.
func (d *Delivery) Deliver(ctx context.Context, _ groups.Node, sub *collector.Submission) error {
	msgs, err := d.messages(sub)
	if err != nil {
		return groups.Permanent("format", err)
	}
	return d.send(ctx, msgs)
}

// messages renders sub's syslog messages, framed for the stream.
func (d *Delivery) messages(sub *collector.Submission) ([][]byte, error) {
	now := d.now()
	t := sub.EventTime
	if t.IsZero() {
		t = now
	}
	out := make([][]byte, 0, 1)
	add := func(obs *collector.Observable, msgID string) error {
		body, err := d.body(sub, obs, now)
		if err != nil {
			return err
		}
		out = append(out, []byte(frame(d.st.Framing, d.st.Header.message(body, t, msgID))))
		return nil
	}
	if err := add(nil, "submission"); err != nil {
		return nil, err
	}
	if d.st.PerObservable {
		for i := range sub.Observables {
			if err := add(&sub.Observables[i], "observable"); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (d *Delivery) body(sub *collector.Submission, obs *collector.Observable, now time.Time) (string, error) {
	switch d.st.Format {
	case "leef":
		return d.st.Event.leef(sub, obs, now), nil
	case "json":
		return jsonLine(sub, obs)
	case "template":
		data := render.NewData(sub, d.group)
		data.Observable = obs
		var b bytes.Buffer
		if err := d.tmpl.Execute(&b, data); err != nil {
			return "", fmt.Errorf("syslog template: %w", err)
		}
		return b.String(), nil
	}
	return d.st.Event.cef(sub, obs, now), nil
}

// Close closes the idle connections.
func (d *Delivery) Close() error {
	d.pool.close()
	return nil
}

// dial connects to the receiver (TLS: handshake included, verified).
func (d *Delivery) dial(ctx context.Context) (net.Conn, error) {
	dialer := &net.Dialer{Timeout: d.st.Timeout}
	switch d.st.Network {
	case "udp":
		return dialer.DialContext(ctx, "udp", d.st.Addr)
	case "tls":
		host, _, _ := net.SplitHostPort(d.st.Addr)
		conf, err := d.st.TLS.Config(host)
		if err != nil {
			return nil, groups.Transient("tls", err)
		}
		td := &tlsDialer{net: dialer, conf: conf}
		return td.DialContext(ctx, d.st.Addr)
	}
	return dialer.DialContext(ctx, "tcp", d.st.Addr)
}

var (
	_ groups.Delivery = (*Delivery)(nil)
	_ groups.Targeted = (*Delivery)(nil)
)
