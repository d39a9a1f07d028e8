// Package http is the group type `http`: each submission is POSTed as
// JSON (or a template's output) to a webhook or alert API, with headers
// and authentication from the configuration. A 2xx answer delivers it;
// 408, 429 and 5xx are transient, any other answer permanent. See
// docs/groups/http.md.
package http

import (
	"bytes"
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/groups/internal/render"
	"github.com/ace-collector/ace-collector/groups/internal/tlsconf"
)

//go:embed sample.ini
var sample []byte

func init() {
	groups.RegisterType(groups.Type{
		Name:    "http",
		Summary: "a webhook or alert API: the submission POSTed as JSON or a template",
		Sample:  sample,
		Parse:   parse,
		Open:    open,
	})
}

// Settings are an http group's own keys.
type Settings struct {
	URL         string
	Method      string
	Format      string // json or template
	Template    string
	ContentType string
	Headers     http.Header
	Username    string
	Password    string
	BearerToken string
	TLS         tlsconf.Settings
	Timeout     time.Duration
}

func parse(s *collector.Section, _ groups.GroupConfig, env groups.ParseEnv) any {
	st := &Settings{
		URL:         s.Required("url"),
		Method:      s.OneOf("method", "POST", "POST", "PUT"),
		Format:      s.OneOf("format", "json", "json", "template"),
		Username:    s.String("username", ""),
		Password:    s.String("password", ""),
		BearerToken: s.String("bearer_token", ""),
		TLS:         tlsconf.Parse(s, env.Global),
		Timeout:     s.Duration("timeout", 30*time.Second),
		Headers:     http.Header{},
	}
	if st.URL != "" {
		if err := checkURL(st.URL); err != nil {
			s.Errorf("url", "%v", err)
		}
	}
	def := "application/json"
	if st.Format == "template" {
		def = "text/plain; charset=utf-8"
	}
	st.ContentType = s.String("content_type", def)
	for _, k := range s.KeysWithPrefix("header.") {
		name := strings.TrimPrefix(k, "header.")
		if name == "" || strings.ContainsAny(name, " :\r\n") {
			s.Errorf(k, "not a header name")
			continue
		}
		st.Headers.Add(name, s.Value(k))
	}
	if st.BearerToken != "" && (st.Username != "" || st.Password != "") {
		s.Errorf("bearer_token", "bearer_token and username/password exclude each other")
	}
	if (st.Username == "") != (st.Password == "") {
		s.Errorf("username", "username and password go together")
	}
	st.Template = s.String("template", "")
	if file := s.ExistingFile("template_file", env.Global); file != "" {
		st.Template = readTemplate(s, file)
	}
	switch {
	case st.Format == "template" && st.Template == "":
		s.Errorf("template", "format = template needs template or template_file")
	case st.Format != "template" && st.Template != "":
		s.Errorf("template", "a template needs format = template")
	case st.Format == "template":
		if _, err := render.ParseTemplate("body", st.Template, nil); err != nil {
			s.Errorf("template", "%v", err)
		}
	}
	return st
}

func readTemplate(s *collector.Section, file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		s.Errorf("template_file", "%v", err)
	}
	return string(b)
}

// checkURL accepts http and https URLs without credentials in them (they
// would end up in logs: username/password and bearer_token carry them).
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q: want http or https", u.Scheme)
	case u.Host == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("credentials in the URL: use username and password, or bearer_token")
	}
	return nil
}

func open(g groups.GroupConfig, log *slog.Logger) (groups.Delivery, error) {
	st, ok := g.Settings.(*Settings)
	if !ok {
		return nil, fmt.Errorf("http: group %s has no http settings", g.Name)
	}
	u, err := url.Parse(st.URL)
	if err != nil {
		return nil, fmt.Errorf("http url: %w", err)
	}
	d := &Delivery{st: *st, group: g.Name, shown: shownURL(u)}
	if st.Format == "template" {
		if d.tmpl, err = render.ParseTemplate("body", st.Template, nil); err != nil {
			return nil, fmt.Errorf("http template: %w", err)
		}
	}
	// Through a proxy the transport does the TLS itself, with this
	// configuration (read once); direct connections read it per dial.
	proxyTLS, err := st.TLS.Config(u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("http TLS: %w", err)
	}
	dialer := &net.Dialer{Timeout: st.Timeout}
	tr := &http.Transport{
		TLSClientConfig:     proxyTLS,
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: max(g.ThreadCount, 2),
		IdleConnTimeout:     90 * time.Second,
		// The TLS settings' files are read for each connection, so a
		// rotated CA or client certificate needs no restart.
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			conf, err := st.TLS.Config(host)
			if err != nil {
				return nil, groups.Transient("tls", err)
			}
			return (&tls.Dialer{NetDialer: dialer, Config: conf}).DialContext(ctx, network, addr)
		},
	}
	d.client = &http.Client{Transport: tr, Timeout: st.Timeout,
		// A redirect is answered as it is: following it would resend the
		// body (and its credentials) somewhere the configuration never named.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	d.tr = tr
	return d, nil
}

// shownURL is the URL as logs show it: without its query, which may hold
// a token.
func shownURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment = "", ""
	if u.RawQuery != "" {
		c.RawQuery = "..."
	}
	return c.String()
}

// Delivery posts to one URL.
type Delivery struct {
	st     Settings
	group  string
	shown  string
	tmpl   *template.Template
	client *http.Client
	tr     *http.Transport
}

// Targets is the URL.
func (d *Delivery) Targets() []groups.Node {
	return []groups.Node{{Name: d.shown, Location: d.shown, AnyMode: true}}
}

// Close releases idle connections.
func (d *Delivery) Close() error {
	d.tr.CloseIdleConnections()
	return nil
}

// Deliver sends sub. The uuid travels in X-ACE-Submission-UUID and
// Idempotency-Key, so the receiver can drop a repeated delivery.
func (d *Delivery) Deliver(ctx context.Context, _ groups.Node, sub *collector.Submission) error {
	body, err := d.body(sub)
	if err != nil {
		return groups.Permanent("format", err)
	}
	req, err := http.NewRequestWithContext(ctx, d.st.Method, d.st.URL, bytes.NewReader(body))
	if err != nil {
		return groups.Permanent("local", fmt.Errorf("request to %s: %w", d.shown, err))
	}
	for k, vs := range d.st.Headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", d.st.ContentType)
	req.Header.Set("User-Agent", "ace-collector")
	req.Header.Set("X-ACE-Submission-UUID", sub.UUID)
	req.Header.Set("Idempotency-Key", sub.UUID)
	switch {
	case d.st.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+d.st.BearerToken)
	case d.st.Username != "":
		req.SetBasicAuth(d.st.Username, d.st.Password)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, query included
		}
		return fmt.Errorf("%s %s: %w", d.st.Method, d.shown, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	return classify(resp.StatusCode, text, d.st.Method+" "+d.shown)
}

// classify turns an answer into nil (2xx), a transient failure (408, 429,
// 5xx) or a permanent one (anything else, redirects included).
func classify(code int, body []byte, what string) error {
	if code >= 200 && code < 300 {
		return nil
	}
	err := fmt.Errorf("%s answered HTTP %d %s%s", what, code, http.StatusText(code), snippet(body))
	if code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests {
		return groups.Transient("server", err)
	}
	return groups.Permanent("rejected", err)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 512 {
		cut := 512
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "...(truncated)"
	}
	return ": " + strings.Join(strings.Fields(s), " ")
}

func (d *Delivery) body(sub *collector.Submission) ([]byte, error) {
	if d.tmpl != nil {
		var b bytes.Buffer
		if err := d.tmpl.Execute(&b, render.NewData(sub, d.group)); err != nil {
			return nil, fmt.Errorf("http template: %w", err)
		}
		return b.Bytes(), nil
	}
	doc, err := render.NewDocument(sub, false)
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

var (
	_ groups.Delivery = (*Delivery)(nil)
	_ groups.Targeted = (*Delivery)(nil)
)
