package estreamer

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire/wiretest"
)

// oneEventScript negotiates and sends one intrusion event, then waits for
// the client to go away.
func oneEventScript(_ int, c *fmcConn) error {
	if _, _, err := c.handshake(wiretest.StreamingInfoMessage(6667)); err != nil {
		return err
	}
	if err := c.send(wiretest.BundleMessage(1, 1, intrusion(1, t0, "10.9.9.9").Record(85, t0))); err != nil {
		return err
	}
	if err := c.expectNull(); err != nil {
		return err
	}
	if err := c.send(wiretest.NullMessage()); err != nil {
		return err
	}
	return c.waitClosed()
}

func TestTLSCredentialVariants(t *testing.T) {
	pki := newPKI(t)
	cases := []struct {
		name  string
		lines []string
	}{
		{"pkcs12 modern with password, chain", nil},
		{"pkcs12 legacy without password, chain", []string{"pkcs12_file = " + pki.P12Legacy, "pkcs12_password ="}},
		{"pem files, full verification by name", []string{"pkcs12_file =", "pkcs12_password =", "cert_file = " + pki.CertFile,
			"key_file = " + pki.KeyFile, "ca_file = " + pki.CAFile, "verify = full", "server_name = fmc.test"}},
		{"pem files, verification off", []string{"pkcs12_file =", "pkcs12_password =", "cert_file = " + pki.CertFile,
			"key_file = " + pki.KeyFile, "verify = off", "tls_min_version = 1.3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fmc := startFMC(t, pki.serverConfig(), oneEventScript)
			c := newTestCollector(t, pki, fmc.port(), tc.lines...)
			sink := collectortest.NewSink()
			runCollector(t, c, sink, collectortest.NewState())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := sink.WaitFor(ctx, 1); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTLSFailuresExplained checks that rejected sessions end with a reason
// an operator can act on, and that nothing is submitted.
func TestTLSFailuresExplained(t *testing.T) {
	pki := newPKI(t)
	other := newPKI(t) // a different CA
	cases := []struct {
		name   string
		server *tls.Config
		lines  []string
		want   string
	}{
		{"server certificate from another CA", other.serverConfig(), nil, "TLS handshake failed"},
		{"server name mismatch in full mode", pki.serverConfig(), []string{"verify = full", "server_name = wrong.test", "ca_file = " + pki.CAFile}, "TLS handshake failed"},
		{"client certificate rejected", pki.serverConfig(), []string{"pkcs12_file = " + other.P12Legacy, "pkcs12_password =", "verify = off"}, "rejected the TLS session"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fmc := startFMC(t, tc.server, oneEventScript)
			c := newTestCollector(t, pki, fmc.port(), tc.lines...)
			env := collectortest.Env(t, "fmc", collectortest.NewSink(), collectortest.NewState())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.session(ctx, env)
			if err == nil {
				t.Fatal("session succeeded")
			}
			if reason := explain(err, false); !strings.Contains(reason, tc.want) {
				t.Fatalf("reason %q, want %q", reason, tc.want)
			}
		})
	}
}

// TestClosedWithoutMessageExplained: the FMC's post-connection host check
// closes without an error message.
func TestClosedWithoutMessageExplained(t *testing.T) {
	pki := newPKI(t)
	fmc := startFMC(t, pki.serverConfig(), func(_ int, c *fmcConn) error {
		_, err := c.expect(wire.TypeEventStreamRequest)
		return err // close silently
	})
	c := newTestCollector(t, pki, fmc.port())
	env := collectortest.Env(t, "fmc", collectortest.NewSink(), collectortest.NewState())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.session(ctx, env)
	if reason := explain(err, false); !strings.Contains(reason, "post-connection check") {
		t.Fatalf("reason %q (%v)", reason, err)
	}
}

// TestIdleExplained: a server that goes silent (no keep-alives) ends the
// session after idle_timeout with an "idle" reason.
func TestIdleExplained(t *testing.T) {
	pki := newPKI(t)
	fmc := startFMC(t, pki.serverConfig(), func(_ int, c *fmcConn) error {
		if _, _, err := c.handshake(wiretest.StreamingInfoMessage(6667)); err != nil {
			return err
		}
		return c.waitClosed()
	})
	c := newTestCollector(t, pki, fmc.port(), "idle_timeout = 50ms")
	env := collectortest.Env(t, "fmc", collectortest.NewSink(), collectortest.NewState())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.session(ctx, env)
	if reason := explain(err, false); !strings.Contains(reason, "idle") {
		t.Fatalf("reason %q (%v)", reason, err)
	}
}
