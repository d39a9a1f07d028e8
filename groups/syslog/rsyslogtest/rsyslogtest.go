// Package rsyslogtest runs a real rsyslogd (Debian's rsyslog and
// rsyslog-gnutls) for the syslog group type's tests and benchmarks: it
// writes a configuration that listens on 127.0.0.1 over TCP and TLS (a
// certificate from a CA generated for the run) and writes every message it
// receives, field by field, as one JSON line.
package rsyslogtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/api"
)

// Line is one received message as rsyslog parsed it (its property names).
type Line struct {
	Pri       string `json:"pri"`
	Facility  string `json:"facility"`
	Severity  string `json:"severity"`
	Timestamp string `json:"timestamp"`
	Hostname  string `json:"hostname"`
	App       string `json:"app"`
	ProcID    string `json:"procid"`
	MsgID     string `json:"msgid"`
	SD        string `json:"sd"`
	Protocol  string `json:"protocol"` // "1" for RFC 5424, "0" for RFC 3164
	Input     string `json:"input"`    // tcp or tls: the listener it came in on
	Msg       string `json:"msg"`
}

// Server is a running rsyslogd.
type Server struct {
	Dir     string
	TCPAddr string // 127.0.0.1:port, plain TCP
	TLSAddr string // 127.0.0.1:port, TLS (anonymous client, server certificate for 127.0.0.1)
	CAFile  string // the CA that signed the server certificate
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Binary returns the rsyslogd program, or an error saying how to install it.
func Binary() (string, error) {
	for _, p := range []string{"rsyslogd", "/usr/sbin/rsyslogd"} {
		if path, err := exec.LookPath(p); err == nil {
			m, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so")
			if m2, _ := filepath.Glob("/usr/lib/rsyslog/lmnsd_gtls.so"); len(m)+len(m2) == 0 {
				return "", errors.New("rsyslog's TLS driver (lmnsd_gtls) is missing; install with: apt-get install rsyslog-gnutls")
			}
			return path, nil
		}
	}
	return "", errors.New("rsyslogd not found; install with: apt-get install rsyslog rsyslog-gnutls")
}

// Require starts a server in a test directory, stopped at the end of the
// test. Without rsyslog the test is skipped, or fails under CI=true.
func Require(t testing.TB) *Server {
	t.Helper()
	if _, err := Binary(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	s, err := Start(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stopping rsyslogd: %v", err)
		}
	})
	return s
}

// Start runs rsyslogd with its configuration, certificates and output in
// dir, listening on the given ports (0: ports rsyslog picks, read back
// from the files it writes once listening; both 0 or neither). It returns
// once both listeners are up.
func Start(dir string, tcpPort, tlsPort int) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), exited: make(chan struct{})}
	if err := s.writeCerts(); err != nil {
		return nil, err
	}
	for _, f := range []string{"tcp.port", "tls.port"} {
		os.Remove(filepath.Join(dir, f))
	}
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(s.config(tcpPort, tlsPort)), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "rsyslogd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "-n", "-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslogd.pid"))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting rsyslogd: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	if err := s.waitListening(tcpPort, tlsPort, 30*time.Second); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) writeCerts() error {
	ca, err := api.NewLocalCA()
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.CAFile, ca.CertPEM, 0o644); err != nil {
		return err
	}
	cert, err := ca.Issue("127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	return api.WriteKeyPair(cert, filepath.Join(s.Dir, "cert.pem"), filepath.Join(s.Dir, "key.pem"))
}

// config is rsyslog's configuration: two listeners on loopback, every
// message written as a JSON line of its parsed fields. Control characters
// are kept as received (LEEF's tabs), messages up to 256 KiB.
func (s *Server) config(tcpPort, tlsPort int) string {
	d := s.Dir
	return fmt.Sprintf(`global(workDirectory=%[1]q maxMessageSize="256k"
  parser.escapeControlCharactersOnReceive="off"
  DefaultNetstreamDriverCAFile=%[2]q
  DefaultNetstreamDriverCertFile=%[3]q
  DefaultNetstreamDriverKeyFile=%[4]q)
module(load="imtcp" MaxSessions="1000")
template(name="fields" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="protocol" name="protocol-version" format="jsonf")
  property(outname="input" name="inputname" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
ruleset(name="received") {
  action(type="omfile" file=%[5]q template="fields")
}
input(type="imtcp" address="127.0.0.1" port="%[6]d" listenPortFileName=%[7]q ruleset="received" name="tcp")
input(type="imtcp" address="127.0.0.1" port="%[8]d" listenPortFileName=%[9]q ruleset="received" name="tls"
  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
`, d, s.CAFile, filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem"), filepath.Join(d, "received.jsonl"),
		tcpPort, filepath.Join(d, "tcp.port"), tlsPort, filepath.Join(d, "tls.port"))
}

// waitListening waits for the port files rsyslog writes once listening on
// ports it picked, or until given ports accept connections.
func (s *Server) waitListening(tcpPort, tlsPort int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		tcp, err1 := readPort(filepath.Join(s.Dir, "tcp.port"))
		tls, err2 := readPort(filepath.Join(s.Dir, "tls.port"))
		if tcpPort != 0 {
			tcp, err1 = tcpPort, accepts(tcpPort)
			tls, err2 = tlsPort, accepts(tlsPort)
		}
		if err1 == nil && err2 == nil {
			s.TCPAddr, s.TLSAddr = "127.0.0.1:"+strconv.Itoa(tcp), "127.0.0.1:"+strconv.Itoa(tls)
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("rsyslogd exited at start:\n%s", s.Log())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rsyslogd did not listen within %s:\n%s", limit, s.Log())
		}
	}
}

func accepts(port int) error {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func readPort(p string) (int, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: %q", p, b)
	}
	return n, nil
}

// Log is what rsyslogd printed.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "rsyslogd.log"))
	return string(b)
}

// Lines returns the messages received so far.
func (s *Server) Lines() ([]Line, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "received.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Line
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			if !bytes.HasSuffix(b, []byte("\n")) {
				break // the last line is still being written
			}
			return nil, fmt.Errorf("received.jsonl: %w: %q", err, sc.Bytes())
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// WaitLines waits until at least n messages were received.
func (s *Server) WaitLines(ctx context.Context, n int) ([]Line, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		lines, err := s.Lines()
		if err != nil || len(lines) >= n {
			return lines, err
		}
		select {
		case <-ctx.Done():
			return lines, fmt.Errorf("rsyslogd received %d messages, want %d: %w", len(lines), n, ctx.Err())
		case <-s.exited:
			return lines, fmt.Errorf("rsyslogd exited:\n%s", s.Log())
		case <-tick.C:
		}
	}
}

// Close stops rsyslogd (SIGTERM; SIGKILL after 10 s).
func (s *Server) Close() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-s.exited:
		return nil
	case <-t.C:
		s.cmd.Process.Kill()
		<-s.exited
		return errors.New("rsyslogd did not stop on SIGTERM; killed")
	}
}

// Ports returns the TCP and TLS ports, to start another server on them.
func (s *Server) Ports() (tcp, tls int) {
	_, a, _ := strings.Cut(s.TCPAddr, ":")
	_, b, _ := strings.Cut(s.TLSAddr, ":")
	tcp, _ = strconv.Atoi(a)
	tls, _ = strconv.Atoi(b)
	return tcp, tls
}
