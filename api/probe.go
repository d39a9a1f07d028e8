package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// ProbeStep is one check of a node: location, dns, tcp, tls, ping or
// api_version.
type ProbeStep struct {
	Name   string        `json:"name"`
	OK     bool          `json:"ok"`
	Detail string        `json:"detail"`
	Took   time.Duration `json:"took"`
}

// ProbeResult is what Probe found about one node location.
type ProbeResult struct {
	Location string      `json:"location"`
	Steps    []ProbeStep `json:"steps"`
	// Usable: every step passed; a delivery would reach the node.
	Usable     bool `json:"usable"`
	APIVersion int  `json:"api_version,omitempty"`
}

// Probe checks a node location step by step, as a delivery with o would
// reach it: DNS, TCP connect, the TLS handshake with o's verification
// (naming the presented certificate's names when it fails), ACE's ping
// and get_supported_api_version. It stops at the first failing step.
func Probe(ctx context.Context, location string, o ClientOptions) ProbeResult {
	res := ProbeResult{Location: Redact(location)}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	step := func(name string, f func(context.Context) (string, error)) bool {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := time.Now()
		detail, err := f(sctx)
		s := ProbeStep{Name: name, OK: err == nil, Detail: detail, Took: time.Since(start)}
		if err != nil {
			s.Detail = Redact(err.Error())
		}
		res.Steps = append(res.Steps, s)
		return err == nil
	}
	var loc Location
	if !step("location", func(context.Context) (string, error) {
		var err error
		loc, err = ParseLocation(location)
		return loc.String(), err
	}) {
		return res
	}
	ok := step("dns", func(ctx context.Context) (string, error) { return resolve(ctx, loc.Host) }) &&
		step("tcp", func(ctx context.Context) (string, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", loc.HostPort())
			if err != nil {
				return "", err
			}
			defer c.Close()
			return "connected to " + c.RemoteAddr().String(), nil
		}) &&
		step("tls", func(ctx context.Context) (string, error) { return handshake(ctx, loc, o) })
	if !ok {
		return res
	}
	o.RetryMax = 0
	o.Timeout = timeout
	c, err := NewClient(o)
	if err != nil {
		step("ping", func(context.Context) (string, error) { return "", err })
		return res
	}
	defer c.Close()
	ok = step("ping", func(ctx context.Context) (string, error) { return "pong", c.Ping(ctx, location) }) &&
		step("api_version", func(ctx context.Context) (string, error) {
			v, err := c.APIVersion(ctx, location)
			res.APIVersion = v
			if err == nil && v != 1 {
				err = fmt.Errorf("API version %d; this collector speaks version 1", v)
			}
			return fmt.Sprintf("version %d", v), err
		})
	res.Usable = ok
	return res
}

func resolve(ctx context.Context, host string) (string, error) {
	if net.ParseIP(host) != nil {
		return host + " (an address)", nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", err
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return strings.Join(out, ", "), nil
}

// handshake does the TLS handshake a delivery would; when verification
// fails it says which names the presented certificate is for.
func handshake(ctx context.Context, loc Location, o ClientOptions) (string, error) {
	if loc.Scheme == "http" {
		return "plain HTTP (no TLS)", nil
	}
	conf, err := clientTLSConfig(o)
	if err != nil {
		return "", err
	}
	conf.ServerName = loc.Host
	d := &tls.Dialer{Config: conf}
	c, err := d.DialContext(ctx, "tcp", loc.HostPort())
	if err != nil {
		if names := presentedNames(ctx, loc); names != "" {
			err = fmt.Errorf("%w (the node presents a certificate for %s)", err, names)
		}
		return "", err
	}
	defer c.Close()
	st := c.(*tls.Conn).ConnectionState()
	detail := tls.VersionName(st.Version)
	if len(st.PeerCertificates) > 0 {
		leaf := st.PeerCertificates[0]
		detail += ", certificate for " + certNames(leaf) + ", expires " + leaf.NotAfter.Format("2006-01-02")
	}
	if o.InsecureSkipVerify {
		detail += " (verification off: verify_ssl = no)"
	}
	return detail, nil
}

// presentedNames reads the certificate a node presents, unverified, to
// name it in an error.
func presentedNames(ctx context.Context, loc Location) string {
	d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, ServerName: loc.Host}}
	c, err := d.DialContext(ctx, "tcp", loc.HostPort())
	if err != nil {
		return ""
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return ""
	}
	return certNames(certs[0]) + ", issued by " + certs[0].Issuer.CommonName
}

func certNames(c *x509.Certificate) string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, "CN="+c.Subject.CommonName)
	}
	return strings.Join(names, ", ")
}

// APIVersion asks a node for ACE's supported API version
// (common/get_supported_api_version).
func (c *Client) APIVersion(ctx context.Context, location string) (int, error) {
	loc, err := ParseLocation(location)
	if err != nil {
		return 0, err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, loc.BaseURL()+"/common/get_supported_api_version", nil)
	if err != nil {
		return 0, localErrorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	status, text, err := c.do(req, loc)
	if err != nil {
		return 0, RedactError(fmt.Errorf("asking %s for its API version: %w", loc.HostPort(), err))
	}
	var ans struct {
		Result *int `json:"result"`
	}
	if err := json.Unmarshal(text, &ans); err != nil || ans.Result == nil {
		if err == nil {
			err = errors.New(`want {"result": N}`)
		}
		return 0, &ProtocolError{StatusCode: status, Body: string(text), Err: err}
	}
	return *ans.Result, nil
}
