package daemon

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// statusCookie holds a browser's session after the login form.
const statusCookie = "ace_collector_status"

// parseStatusAccess reads status_token, status_cert/status_key and the live
// view's bounds. The status listener shows what is collected (the live
// page), so off loopback it needs a token.
func (c *Config) parseStatusAccess(col *collector.Section) {
	c.StatusToken = col.String("status_token", "")
	if c.StatusToken != "" && len(c.StatusToken) < 16 {
		col.Errorf("status_token", "is shorter than 16 characters; use a long random token (e.g. openssl rand -hex 24)")
	}
	c.StatusCert = col.ExistingFile("status_cert", collector.Global{})
	c.StatusKey = col.ExistingFile("status_key", collector.Global{})
	if (c.StatusCert == "") != (c.StatusKey == "") {
		col.Errorf("status_cert", "status_cert and status_key go together (HTTPS needs both)")
	} else if c.StatusCert != "" {
		if _, err := tls.LoadX509KeyPair(c.StatusCert, c.StatusKey); err != nil {
			col.Errorf("status_cert", "loading %s / %s: %v", c.StatusCert, c.StatusKey, err)
		}
	}
	if c.StatusListen != "" && !loopbackListen(c.StatusListen) && c.StatusToken == "" {
		col.Errorf("status_listen", "%s is reachable from other hosts and the status pages show collected data: set status_token (and status_cert/status_key for HTTPS), or listen on 127.0.0.1", c.StatusListen)
	}
	c.LiveRows = col.Int("live_rows", defaultLiveRows, 10, 10000)
	c.LiveHistory = col.Int("live_history", defaultLiveHistory, 100, 1000000)
	if c.LiveHistory < c.LiveRows {
		col.Errorf("live_history", "%d is below live_rows (%d)", c.LiveHistory, c.LiveRows)
	}
}

// loopbackListen reports whether a host:port listens on loopback only.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// statusTLS is the status server's TLS configuration (nil without a
// certificate).
func (c *Config) statusTLS() (*tls.Config, error) {
	if c.StatusCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.StatusCert, c.StatusKey)
	if err != nil {
		return nil, fmt.Errorf("status listener: loading status_cert %s / status_key %s: %w", c.StatusCert, c.StatusKey, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// sessionValue is the cookie a successful login sets: derived from the
// token, so it is only valid while the token is.
func sessionValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("ace-collector status session"))
	return hex.EncodeToString(m.Sum(nil))
}

func equalSecret(a, b string) bool {
	x, y := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(x[:], y[:]) == 1
}

// authorize requires the status token on everything but /healthz and the
// login form: as "Authorization: Bearer TOKEN" or the login cookie.
// Browsers without either are sent to the login form.
func (d *Daemon) authorize(next http.Handler) http.Handler {
	token := d.cfg.StatusToken
	if token == "" {
		return next
	}
	session := sessionValue(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/login" {
			next.ServeHTTP(w, r)
			return
		}
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equalSecret(strings.TrimSpace(b), token) {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(statusCookie); err == nil && equalSecret(c.Value, session) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, "/login?next="+template.URLQueryEscaper(r.URL.Path), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="ace-collector status"`)
		http.Error(w, "status_token required (Authorization: Bearer TOKEN)", http.StatusUnauthorized)
	})
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>ace-collector login</title>
<style>body{font:14px sans-serif;margin:4em auto;width:22em}input{width:100%;margin:.4em 0;padding:.4em}</style></head>
<body><h1>ace-collector</h1>{{if .Failed}}<p style="color:#b00">Wrong token.</p>{{end}}
<form method="post" action="/login"><input type="hidden" name="next" value="{{.Next}}">
<label>Status token <input type="password" name="token" autofocus autocomplete="current-password"></label>
<input type="submit" value="Log in"></form></body></html>`))

// serveLogin shows the login form and, given the right token, sets the
// session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS).
func (d *Daemon) serveLogin(w http.ResponseWriter, r *http.Request) {
	next := r.FormValue("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		next = "/live"
	}
	failed := false
	if r.Method == http.MethodPost && d.cfg.StatusToken != "" {
		if equalSecret(r.PostFormValue("token"), d.cfg.StatusToken) {
			http.SetCookie(w, &http.Cookie{Name: statusCookie, Value: sessionValue(d.cfg.StatusToken), Path: "/",
				HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		failed = true
		d.log.Warn("status login with a wrong token", "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusUnauthorized)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	loginPage.Execute(w, map[string]any{"Next": next, "Failed": failed})
}

// StatusClient is how commands (status, top) reach a running daemon's
// status listener: its base URL and a client that sends the token and, over
// HTTPS, accepts exactly the configured status_cert (which may be
// self-signed and name another host than the one dialled).
func StatusClient(c *Config) (base string, client *http.Client, err error) {
	if c.StatusListen == "" {
		return "", nil, errors.New("no status listener configured ([collection] status_listen)")
	}
	host, port, err := net.SplitHostPort(c.StatusListen)
	if err != nil {
		return "", nil, fmt.Errorf("status_listen %q: %w", c.StatusListen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	scheme := "http"
	if c.StatusCert != "" {
		scheme = "https"
		pin, err := leafDER(c.StatusCert)
		if err != nil {
			return "", nil, err
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 || !bytes.Equal(raw[0], pin) {
					return fmt.Errorf("the status listener's certificate is not %s", c.StatusCert)
				}
				return nil
			}}
	}
	return scheme + "://" + net.JoinHostPort(host, port),
		&http.Client{Transport: &tokenTransport{next: tr, token: c.StatusToken}}, nil
}

func leafDER(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("status_cert: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("status_cert %s holds no PEM certificate", path)
	}
	return blk.Bytes, nil
}

type tokenTransport struct {
	next  http.RoundTripper
	token string
}

func (t *tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.next.RoundTrip(r)
}

// statusGet fetches path from the running daemon's status listener.
func statusGet(ctx context.Context, c *Config, path string) (*http.Response, error) {
	base, client, err := StatusClient(c)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{resp.Body, cancel}
	return resp, nil
}

// fetchStatus copies path of the running daemon's status listener to out
// (with the token, over HTTPS when configured).
func fetchStatus(ctx context.Context, c *Config, path string, out io.Writer) error {
	resp, err := statusGet(ctx, c, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}

type cancelBody struct {
	body interface {
		Read([]byte) (int, error)
		Close() error
	}
	cancel context.CancelFunc
}

func (b *cancelBody) Read(p []byte) (int, error) { return b.body.Read(p) }
func (b *cancelBody) Close() error               { err := b.body.Close(); b.cancel(); return err }

// wrapStatusTLS serves the status listener over HTTPS when status_cert is
// set.
func (d *Daemon) wrapStatusTLS() error {
	conf, err := d.cfg.statusTLS()
	if err != nil || conf == nil || d.statusLn == nil {
		return err
	}
	d.statusLn = tls.NewListener(d.statusLn, conf)
	d.statusTLS = true
	return nil
}

// StatusURL is the base URL of the status server ("" if none).
func (d *Daemon) StatusURL() string {
	if d.statusLn == nil {
		return ""
	}
	if d.statusTLS {
		return "https://" + d.statusLn.Addr().String()
	}
	return "http://" + d.statusLn.Addr().String()
}

func groupNames(cfg *Config) []string {
	var out []string
	for _, g := range cfg.Groups.Enabled() {
		out = append(out, g.Name)
	}
	return out
}
