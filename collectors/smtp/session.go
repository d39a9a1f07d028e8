package smtp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/mailparse"
	"github.com/ace-collector/ace-collector/collectors/common/mailrules"
)

var (
	errStoreUnavailable = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0},
		Message: "Message not accepted: local storage unavailable, try again later"}
	errLocal = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0},
		Message: "Message not accepted: local error writing the message, try again later"}
	errInvalid = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0},
		Message: "Message rejected: it cannot be stored as a submission"}
	errTLSRequired = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
		Message: "Must issue a STARTTLS command first"}
	errTooManyRcpts = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 5, 3},
		Message: "Too many recipients"}
	errRelayDenied = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
		Message: "Recipient domain not accepted here"}
)

// session is one SMTP connection's state.
type session struct {
	c   *Collector
	env *collector.Env
	ctx context.Context

	conn       *gosmtp.Conn
	clientAddr string
	clientIP   string
	authUser   string

	from  string
	rcpts []string
}

// authSession adds AUTH PLAIN when auth_user is configured.
type authSession struct{ *session }

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, gosmtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		cfg := &s.c.cfg
		okUser := subtle.ConstantTimeCompare([]byte(user), []byte(cfg.AuthUser)) == 1
		okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(cfg.AuthPassword)) == 1
		if !okUser || !okPass || (identity != "" && identity != user) {
			s.env.Count("auth_failed", 1)
			s.env.Log.Warn("smtp authentication failed", "client", s.clientAddr, "user", user)
			return gosmtp.ErrAuthFailed
		}
		s.authUser = user
		return nil
	}), nil
}

func (s *session) isTLS() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.c.cfg.RequireTLS && !s.isTLS() {
		return errTLSRequired
	}
	if s.c.cfg.AuthUser != "" && s.authUser == "" {
		return gosmtp.ErrAuthRequired
	}
	s.from, s.rcpts = from, nil
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if len(s.rcpts) >= s.c.cfg.MaxRecipients {
		s.env.Drop("too_many_rcpt", 1)
		return errTooManyRcpts
	}
	if len(s.c.cfg.AllowedDomains) > 0 {
		_, dom, _ := strings.Cut(strings.ToLower(to), "@")
		ok := false
		for _, d := range s.c.cfg.AllowedDomains {
			if dom == d {
				ok = true
				break
			}
		}
		if !ok {
			s.env.Drop("rejected_rcpt", 1)
			s.env.Log.Info("recipient rejected: domain not allowed", "client", s.clientAddr, "rcpt", to)
			return errRelayDenied
		}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { return nil }

// Data receives one message and answers only after Submit returned.
func (s *session) Data(r io.Reader) error {
	cfg := &s.c.cfg
	f, err := os.CreateTemp(cfg.SpoolDir, "smtp-*.eml")
	if err != nil {
		s.env.Count("spool_error", 1)
		s.env.Log.Error("cannot create spool file", "spool_dir", cfg.SpoolDir, "error", err)
		return errLocal
	}
	path := f.Name()
	// Whatever happens, the spool file goes: after a successful Submit the
	// store holds its own copy (or the runtime moved it already), and after
	// a failure the sender keeps the message and will retry.
	defer func() {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.env.Log.Error("cannot remove spool file", "file", path, "error", err)
		}
	}()
	received := time.Now()
	var buf bytes.Buffer
	trace := s.traceHeader(received)
	buf.WriteString(trace)
	_, err = io.Copy(&buf, r)
	if err != nil {
		f.Close()
		if errors.Is(err, gosmtp.ErrDataTooLarge) {
			s.env.Drop("too_large", 1)
			s.env.Log.Info("message refused: larger than max_message_size", "client", s.clientAddr,
				"mail_from", s.from, "max_message_size", cfg.MaxMessageSize)
			return gosmtp.ErrDataTooLarge
		}
		s.env.Count("data_aborted", 1)
		s.env.Log.Info("message data not received completely", "client", s.clientAddr, "mail_from", s.from, "error", err)
		return fmt.Errorf("reading message data: %w", err)
	}
	raw := buf.Bytes()
	if _, err := f.Write(raw); err != nil {
		f.Close()
		s.env.Count("spool_error", 1)
		s.env.Log.Error("cannot write spool file", "file", path, "error", err)
		return errLocal
	}
	if err := f.Close(); err != nil {
		s.env.Count("spool_error", 1)
		s.env.Log.Error("cannot write spool file", "file", path, "error", err)
		return errLocal
	}
	s.env.Count("received", 1)
	s.env.Count("received_bytes", int64(len(raw)))
	// The stored file carries our trace header; extraction sees the
	// message as the client sent it.
	return s.submit(path, raw[len(trace):], received)
}

func (s *session) submit(path string, raw []byte, received time.Time) error {
	cfg := &s.c.cfg
	res := mailparse.Parse(raw, cfg.Parse)
	if res.Details.ParseError != "" {
		s.env.Count("parse_error", 1)
		s.env.Log.Warn("message not fully parsed; submitting it with what was extracted",
			"client", s.clientAddr, "parse_error", res.Details.ParseError)
	}
	env := s.envelope()
	if changed, err := cfg.Rules.MaybeRefresh(cfg.RulesCheck); err != nil {
		s.env.Count("rules_reload_error", 1)
		s.env.Log.Error("rules file not reloaded; previous rules stay in force", "error", err)
	} else if changed {
		s.env.Log.Info("rules file loaded", "rules", cfg.Rules.Len())
	}
	dec := cfg.Rules.Evaluate(&mailrules.Message{Header: res.Header, Raw: raw, Envelope: env.ruleFields()})
	if dec.Drop {
		s.env.Drop("rule:"+dec.DropRule, 1)
		s.env.Log.Info("message dropped by rule", "rule", dec.DropRule, "client", s.clientAddr,
			"mail_from", s.from, "subject", res.Subject, "message_id", res.Details.MessageID)
		return nil // accepted and discarded, as a mail filter would
	}
	sub, err := s.submission(path, res, env, dec, received)
	if err != nil {
		s.env.Log.Error("cannot build submission", "error", err)
		return errLocal
	}
	ctx, cancel := context.WithTimeout(s.ctx, cfg.SubmitTimeout)
	defer cancel()
	if err := s.env.Sink.Submit(ctx, sub); err != nil {
		if errors.Is(err, collector.ErrInvalid) {
			s.env.Drop("invalid", 1)
			s.env.Log.Error("submission rejected as invalid; message refused with 554", "client", s.clientAddr, "error", err)
			return errInvalid
		}
		s.env.Count("store_unavailable", 1)
		s.env.Log.Warn("store unavailable; message refused with 451", "client", s.clientAddr, "error", err)
		return errStoreUnavailable
	}
	s.env.Count("submitted", 1)
	s.env.Log.Debug("submitted message", "uuid", sub.UUID, "client", s.clientAddr, "description", sub.Description)
	return nil
}

// traceHeader is the Received field an MTA prepends (RFC 5321 4.4).
func (s *session) traceHeader(t time.Time) string {
	with := "ESMTP"
	if s.isTLS() {
		with = "ESMTPS"
	}
	if s.authUser != "" {
		with += "A"
	}
	helo := sanitize(s.conn.Hostname())
	return fmt.Sprintf("Received: from %s (%s [%s])\r\n\tby %s (ace-collector) with %s;\r\n\t%s\r\n",
		helo, helo, s.clientIP, sanitize(s.c.cfg.Domain), with, t.Format(time.RFC1123Z))
}

// sanitize keeps client-supplied text from breaking the header.
func sanitize(v string) string {
	v = strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f || r == '(' || r == ')' || r == '[' || r == ']' {
			return -1
		}
		return r
	}, v)
	if v == "" {
		return "unknown"
	}
	if len(v) > 255 {
		v = v[:255]
	}
	return v
}

// Envelope is the SMTP transaction, stored in details.
type Envelope struct {
	MailFrom   string   `json:"mail_from"`
	RcptTo     []string `json:"rcpt_to"`
	Helo       string   `json:"helo"`
	ClientAddr string   `json:"client_addr"`
	TLS        *TLSInfo `json:"tls,omitempty"`
	AuthUser   string   `json:"auth_user,omitempty"`
	Received   string   `json:"received"`
}

// TLSInfo describes the STARTTLS session.
type TLSInfo struct {
	Version     string `json:"version"`
	CipherSuite string `json:"cipher_suite"`
	ServerName  string `json:"server_name,omitempty"`
}

func (s *session) envelope() *Envelope {
	e := &Envelope{MailFrom: s.from, RcptTo: append([]string(nil), s.rcpts...), Helo: s.conn.Hostname(),
		ClientAddr: s.clientAddr, AuthUser: s.authUser}
	if st, ok := s.conn.TLSConnectionState(); ok {
		e.TLS = &TLSInfo{Version: tls.VersionName(st.Version), CipherSuite: tls.CipherSuiteName(st.CipherSuite), ServerName: st.ServerName}
	}
	return e
}

func (e *Envelope) ruleFields() map[string][]string {
	return map[string][]string{
		"mail_from": {e.MailFrom}, "rcpt_to": e.RcptTo, "helo": {e.Helo}, "client_ip": {hostOf(e.ClientAddr)},
	}
}
