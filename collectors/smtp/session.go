package smtp

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
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
	utf8  bool // MAIL FROM ... SMTPUTF8
}

// authSession adds AUTH PLAIN and LOGIN when auth_user is configured.
type authSession struct{ *session }

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return s.authFailed(user)
			}
			return s.checkCredentials(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: s.checkCredentials}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (s *authSession) checkCredentials(user, pass string) error {
	cfg := &s.c.cfg
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(cfg.AuthUser)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(cfg.AuthPassword)) == 1
	if !okUser || !okPass {
		return s.authFailed(user)
	}
	s.authUser = user
	return nil
}

func (s *authSession) authFailed(user string) error {
	s.env.Count("auth_failed", 1)
	s.env.Log.Warn("smtp authentication failed", "client", s.clientAddr, "user", truncate(strings.ToValidUTF8(user, "?"), 100))
	return gosmtp.ErrAuthFailed
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login), which many clients and appliances use and
// go-sasl implements only as a client: the server asks "Username:" (unless
// the client sent it with AUTH) and "Password:".
type loginServer struct {
	check    func(user, pass string) error
	user     string
	haveUser bool
	done     bool
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch {
	case l.done:
		return nil, false, errors.New("unexpected response after authentication")
	case !l.haveUser && response == nil: // AUTH LOGIN without the user name
		return []byte("Username:"), false, nil
	case !l.haveUser:
		l.user, l.haveUser = string(response), true
		return []byte("Password:"), false, nil
	default:
		l.done = true
		return nil, true, l.check(l.user, string(response))
	}
}

func (s *session) isTLS() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if s.c.cfg.RequireTLS && !s.isTLS() {
		return errTLSRequired
	}
	if s.c.cfg.AuthUser != "" && s.authUser == "" {
		return gosmtp.ErrAuthRequired
	}
	s.from, s.rcpts = from, nil
	s.utf8 = opts != nil && opts.UTF8
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

func (s *session) Reset()        { s.from, s.rcpts, s.utf8 = "", nil, false }
func (s *session) Logout() error { return nil }

// Data receives one message and answers only after Submit returned. The
// message streams to a spool file as it arrives (memory stays bounded
// whatever its size); extraction reads the file, and the file itself
// becomes the submission's attachment (the runtime links it into the
// store's incoming area).
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
	// store holds it (linked or copied), and after a failure the sender
	// keeps the message and will retry.
	defer func() {
		f.Close()
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.env.Log.Error("cannot remove spool file", "file", path, "error", err)
		}
	}()
	received := time.Now()
	w := writerPool.Get().(*bufio.Writer)
	w.Reset(spoolWriter{f})
	defer func() {
		w.Reset(nil)
		writerPool.Put(w)
	}()
	trace := s.traceHeader(received)
	if _, err := w.WriteString(trace); err != nil {
		return s.spoolFailed(path, err)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		var we *writeError
		switch {
		case errors.Is(err, gosmtp.ErrDataTooLarge):
			s.env.Drop("too_large", 1)
			s.env.Log.Info("message refused: larger than max_message_size", "client", s.clientAddr,
				"mail_from", s.from, "max_message_size", cfg.MaxMessageSize)
			return gosmtp.ErrDataTooLarge
		case errors.As(err, &we):
			return s.spoolFailed(path, we.err)
		}
		s.env.Count("data_aborted", 1)
		s.env.Log.Info("message data not received completely", "client", s.clientAddr, "mail_from", s.from, "error", err)
		return fmt.Errorf("reading message data: %w", err)
	}
	if err := w.Flush(); err != nil {
		return s.spoolFailed(path, err)
	}
	s.env.Count("received", 1)
	s.env.Count("received_bytes", n)
	// The stored file carries our trace header; extraction sees the
	// message as the client sent it.
	return s.submit(path, io.NewSectionReader(f, int64(len(trace)), n), n, received)
}

func (s *session) spoolFailed(path string, err error) error {
	s.env.Count("spool_error", 1)
	s.env.Log.Error("cannot write spool file", "file", path, "error", err)
	return errLocal
}

// writerPool holds the spool files' write buffers: allocating one per
// message would cost more than a small message's whole extraction.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// writeError marks a failure to write the spool file, as opposed to one
// reading from the client, in io.Copy's error.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// spoolWriter tags write errors (see writeError).
type spoolWriter struct{ w io.Writer }

func (s spoolWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// submit extracts, applies the rules and submits. Extraction holds one of
// the collector's parse slots, so CPU and memory stay bounded whatever
// the number of connections.
func (s *session) submit(path string, msg *io.SectionReader, size int64, received time.Time) error {
	cfg := &s.c.cfg
	if err := s.c.parsing.acquire(s.ctx); err != nil {
		return errStoreUnavailable // shut down while waiting: the sender retries
	}
	res := mailparse.ParseReader(io.NewSectionReader(msg, 0, size), size, cfg.Parse)
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
	dec := cfg.Rules.Evaluate(&mailrules.Message{Header: res.Header, Raw: msg, RawSize: size, Envelope: env.ruleFields()})
	s.c.parsing.release()
	if dec.Drop {
		s.env.Drop("rule:"+dec.DropRule, 1)
		s.env.Log.Info("message dropped by rule", "rule", dec.DropRule, "client", s.clientAddr,
			"mail_from", s.from, "subject", truncate(res.Subject, 200), "message_id", res.Details.MessageID)
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
	SMTPUTF8   bool     `json:"smtputf8,omitempty"`
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
		ClientAddr: s.clientAddr, AuthUser: s.authUser, SMTPUTF8: s.utf8}
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
