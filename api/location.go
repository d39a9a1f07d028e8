package api

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Location is a parsed ACE node location. Config validation and delivery
// both go through ParseLocation, so a location the config accepts is one
// the client can deliver to.
type Location struct {
	Scheme string // "https" or "http"
	Host   string // host name or IP address, without brackets
	Port   int    // 1..65535
}

// ParseLocation reads a node location in one of the forms ACE and this
// collector use:
//
//	host:port            HTTPS (ACE nodes serve HTTPS; ace_api always uses it)
//	https://host:port
//	http://host:port     plain HTTP, explicitly
//	[::1]:port           IPv6 literals in brackets, in every form above
//
// The port is required. Credentials in the location are refused (they
// belong in api_key or the TLS client certificate), and so are paths,
// queries and fragments. Error texts never repeat a credential.
func ParseLocation(s string) (Location, error) {
	loc, err := parseLocation(strings.TrimSpace(s))
	if err != nil {
		return Location{}, &LocalError{Err: fmt.Errorf("node location %q: %w", hideUserinfo(s), err)}
	}
	return loc, nil
}

// hideUserinfo shows a refused location without anything before its last
// '@' (after the scheme), however the credentials are spelled.
func hideUserinfo(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	prefix := ""
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		prefix = s[:i+3]
	}
	return prefix + "REDACTED" + s[at:]
}

// errLocationCredentials is the one mistake that would leak a secret.
var errLocationCredentials = errors.New("credentials are not allowed in a node location; put an API key in api_key, or use a TLS client certificate (client_cert, client_key)")

func parseLocation(s string) (Location, error) {
	if s == "" {
		return Location{}, errors.New("empty")
	}
	l := Location{Scheme: "https"}
	rest := s
	if scheme, after, ok := strings.Cut(s, "://"); ok {
		switch strings.ToLower(scheme) {
		case "http", "https":
			l.Scheme = strings.ToLower(scheme)
		default:
			return Location{}, fmt.Errorf("scheme %q: want http or https", scheme)
		}
		rest = after
	}
	// '@' has no place in host:port, nor in the path this refuses anyway:
	// whatever precedes it is taken for credentials.
	if strings.Contains(rest, "@") {
		return Location{}, errLocationCredentials
	}
	hostport := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		hostport = rest[:i]
		// A lone trailing slash is the root; anything else is a path,
		// query or fragment the API URL has no place for.
		if rest[i:] != "/" {
			return Location{}, errors.New("want host:port without a path, query or fragment")
		}
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return Location{}, fmt.Errorf("want host:port, [ipv6]:port, https://host:port or http://host:port: %w", unwrapAddrError(err))
	}
	if l.Port, err = parsePort(port); err != nil {
		return Location{}, err
	}
	if err := checkHost(host, strings.HasPrefix(hostport, "[")); err != nil {
		return Location{}, err
	}
	l.Host = host
	return l, nil
}

// unwrapAddrError drops net.AddrError's repetition of the address (which
// the caller's message already names, redacted).
func unwrapAddrError(err error) error {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return errors.New(ae.Err)
	}
	return err
}

func parsePort(p string) (int, error) {
	if p == "" {
		return 0, errors.New("a port is required (host:port)")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q is not a number", p)
		}
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %s is out of range 1..65535", p)
	}
	return n, nil
}

// checkHost accepts an IP address or a DNS name (letters, digits, '-',
// '_' and dots); bracketed hosts must be IPv6 addresses.
func checkHost(h string, bracketed bool) error {
	if h == "" {
		return errors.New("the host is empty")
	}
	if bracketed {
		if a, err := netip.ParseAddr(h); err != nil || !a.Is6() {
			return fmt.Errorf("[%s] is not an IPv6 address", h)
		}
		return nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		if strings.Contains(h, ":") {
			return fmt.Errorf("IPv6 address %s needs brackets: [%s]:port", h, h)
		}
		return nil
	}
	if len(h) > 253 {
		return errors.New("host name is longer than 253 characters")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host name %q has an empty or too long label", h)
		}
		if i := strings.IndexFunc(label, notHostChar); i >= 0 {
			return fmt.Errorf("host name %q contains %q", h, []rune(label[i:])[0])
		}
	}
	return nil
}

func notHostChar(c rune) bool {
	return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_')
}

// HostPort is "host:port", with brackets around an IPv6 address.
func (l Location) HostPort() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// String is the canonical form: scheme://host:port.
func (l Location) String() string { return l.Scheme + "://" + l.HostPort() }

// BaseURL is the URL prefix of the node's API.
func (l Location) BaseURL() string { return l.String() + "/api" }

// userinfo matches credentials in a URL ("scheme://user:pass@") or in a
// bare location ("user:pass@host"), up to the last '@' of the token as URL
// parsers read it. An e-mail address (no colon before the '@') is left alone.
var userinfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://)[^\s/?#"'<>]*@|[^\s/?#@:"'<>=]*:[^\s/?#"'<>]*@`)

// Redact removes credentials from URLs and node locations in s (from an
// error, a log line or a stored reason), keeping the rest readable.
func Redact(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return userinfo.ReplaceAllStringFunc(s, func(m string) string {
		if i := strings.Index(m, "://"); i >= 0 {
			return m[:i+3] + "REDACTED@"
		}
		return "REDACTED@"
	})
}

// RedactError returns err with credentials removed from its text; errors.Is
// and errors.As still see the original chain (so Transient still works).
// nil stays nil, and an error with nothing to redact is returned as is.
func RedactError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := Redact(msg)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
