// Package smtp is the group type `smtp`: each submission is mailed, as an
// RFC 5322 envelope (the description as subject, details and observables
// as a JSON part, the files attached, the original message as
// message/rfc822 when it came from email), to a mail server with STARTTLS
// (verified) and optional AUTH. A 4xx answer is transient, a 5xx answer
// permanent. See docs/groups/smtp.md.
package smtp

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/groups/internal/render"
	"github.com/ace-collector/ace-collector/groups/internal/tlsconf"
)

//go:embed sample.ini
var sample []byte

func init() {
	groups.RegisterType(groups.Type{
		Name:    "smtp",
		Summary: "a mail server: the submission as an EML envelope, STARTTLS and optional AUTH",
		Sample:  sample,
		Parse:   parse,
		Open:    open,
	})
}

// Settings are an smtp group's own keys.
type Settings struct {
	Server   string // host:port
	TLSMode  string // starttls, implicit or none
	TLS      tlsconf.Settings
	Username string
	Password string
	From     string   // the From header
	MailFrom string   // its address: MAIL FROM
	To       []string // RCPT TO and the To header
	Helo     string
	Timeout  time.Duration
}

func parse(s *collector.Section, _ groups.GroupConfig, env groups.ParseEnv) any {
	host := env.Global.Hostname
	if host == "" {
		host = "localhost"
	}
	st := &Settings{
		Server:   s.Required("server"),
		TLSMode:  s.OneOf("tls", "starttls", "starttls", "implicit", "none"),
		TLS:      tlsconf.Parse(s, env.Global),
		Username: s.String("username", ""),
		Password: s.String("password", ""),
		From:     s.String("from", "ace-collector <ace-collector@"+host+">"),
		Helo:     s.String("helo", host),
		Timeout:  s.Duration("timeout", 2*time.Minute),
	}
	if st.Server != "" {
		if _, port, err := net.SplitHostPort(st.Server); err != nil || port == "" {
			s.Errorf("server", "%q: want host:port", st.Server)
		}
	}
	if a, err := mail.ParseAddress(st.From); err != nil {
		s.Errorf("from", "%q: %v", st.From, err)
	} else {
		st.MailFrom = a.Address
	}
	for _, to := range s.List("to") {
		a, err := mail.ParseAddress(to)
		if err != nil {
			s.Errorf("to", "%q: %v", to, err)
			continue
		}
		st.To = append(st.To, a.Address)
	}
	if len(st.To) == 0 && !s.Has("to") {
		s.Errorf("to", "required: the recipients")
	}
	if (st.Username == "") != (st.Password == "") {
		s.Errorf("username", "username and password go together")
	}
	if st.Username != "" && st.TLSMode == "none" {
		s.Errorf("tls", "AUTH would send the password in the clear: use starttls or implicit")
	}
	return st
}

func open(g groups.GroupConfig, log *slog.Logger) (groups.Delivery, error) {
	st, ok := g.Settings.(*Settings)
	if !ok {
		return nil, fmt.Errorf("smtp: group %s has no smtp settings", g.Name)
	}
	return &Delivery{st: *st}, nil
}

// Delivery mails submissions through one server, a session each.
type Delivery struct {
	st Settings
}

// Targets is the server.
func (d *Delivery) Targets() []groups.Node {
	loc := "smtp://" + d.st.Server
	return []groups.Node{{Name: loc, Location: loc, AnyMode: true}}
}

// Close has nothing to release: every delivery is a session of its own.
func (d *Delivery) Close() error { return nil }

// Deliver mails sub: delivered once the server accepted the message (250
// after DATA) for every recipient.
func (d *Delivery) Deliver(ctx context.Context, _ groups.Node, sub *collector.Submission) error {
	eml, err := render.NewEML(sub, render.EMLOptions{From: d.st.From, To: d.st.To})
	if err != nil {
		return classify(err)
	}
	c, stop, err := d.session(ctx)
	if err != nil {
		return classify(err)
	}
	defer stop()
	defer c.Close()
	if err := send(c, d.st.MailFrom, d.st.To, eml); err != nil {
		c.Reset()
		return classify(err)
	}
	c.Quit()
	return nil
}

// session connects, greets, secures and authenticates. Closing the
// connection when ctx ends stops a session that hangs at shutdown.
func (d *Delivery) session(ctx context.Context) (*gosmtp.Client, func() bool, error) {
	host, _, _ := net.SplitHostPort(d.st.Server)
	dialer := &net.Dialer{Timeout: d.st.Timeout}
	var conn net.Conn
	var err error
	if d.st.TLSMode == "implicit" {
		conf, cerr := d.st.TLS.Config(host)
		if cerr != nil {
			return nil, nil, groups.Transient("tls", cerr)
		}
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: conf}).DialContext(ctx, "tcp", d.st.Server)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", d.st.Server)
	}
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	var c *gosmtp.Client
	if d.st.TLSMode == "starttls" {
		conf, err := d.st.TLS.Config(host)
		if err != nil {
			stop()
			conn.Close()
			return nil, nil, groups.Transient("tls", err)
		}
		// EHLO, STARTTLS (refused unless offered), then the handshake.
		if c, err = gosmtp.NewClientStartTLS(conn, conf); err != nil {
			stop()
			conn.Close()
			var se *gosmtp.SMTPError
			if !errors.As(err, &se) {
				err = groups.Transient("tls", fmt.Errorf("STARTTLS with %s: %w", d.st.Server, err))
			}
			return nil, nil, err
		}
	} else {
		c = gosmtp.NewClient(conn)
	}
	c.CommandTimeout, c.SubmissionTimeout = d.st.Timeout, d.st.Timeout
	fail := func(err error) (*gosmtp.Client, func() bool, error) {
		stop()
		c.Close()
		return nil, nil, err
	}
	// After STARTTLS the greeting starts over: this EHLO is the first on
	// the secured connection, and fails if its handshake does.
	if err := c.Hello(d.st.Helo); err != nil {
		return fail(err)
	}
	if d.st.Username != "" {
		if !c.SupportsAuth(sasl.Plain) {
			return fail(groups.Transient("auth", fmt.Errorf("%s offers no AUTH PLAIN", d.st.Server)))
		}
		if err := c.Auth(sasl.NewPlainClient("", d.st.Username, d.st.Password)); err != nil {
			return fail(err)
		}
	}
	return c, stop, nil
}

// send runs one transaction: every recipient must be accepted.
func send(c *gosmtp.Client, from string, to []string, eml *render.EML) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := eml.WriteTo(w); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// classify: the server's 4xx transient, 5xx permanent; a stored file that
// is gone permanent; anything else (connection, TLS, a server lacking
// STARTTLS) transient.
func classify(err error) error {
	var f *groups.Failure
	var se *gosmtp.SMTPError
	var fe *render.FileError
	switch {
	case errors.As(err, &f):
		return err
	case errors.As(err, &fe):
		return groups.Permanent("local", err)
	case errors.As(err, &se):
		kind := fmt.Sprintf("smtp_%dxx", se.Code/100)
		if se.Code >= 500 {
			return groups.Permanent(kind, err)
		}
		return groups.Transient(kind, err)
	}
	kind := api.FailureKind(err)
	if kind == "" || kind == api.KindOther {
		kind = "connect"
	}
	return groups.Transient(kind, err)
}

var (
	_ groups.Delivery = (*Delivery)(nil)
	_ groups.Targeted = (*Delivery)(nil)
)
