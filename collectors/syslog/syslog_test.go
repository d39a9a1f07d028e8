package syslog

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

func obsMap(sub *collector.Submission) map[string]bool {
	m := map[string]bool{}
	for _, o := range sub.Observables {
		m[o.Type+"="+o.Value] = true
	}
	return m
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{"", "at least one of listen_udp"},
		{"listen_udp = nope", "not HOST:PORT"},
		{"listen_udp = 127.0.0.1:0\nrule_x = message ~ (", "bad regular expression"},
		{"listen_udp = 127.0.0.1:0\nrule_x = message", "want FIELD OP VALUE"},
		{"listen_tls = 127.0.0.1:0", "tls_cert and tls_key are required"},
		{"listen_udp = 127.0.0.1:0\nmax_message_size = 10", "out of range"},
		{"listen_udp = 127.0.0.1:0\nbogus = 1", "unknown key"},
		{"listen_udp = 127.0.0.1:0\nextract_x = message ~ from (\\S+)", "no named group"},
		{"listen_udp = 127.0.0.1:0\nextract_x = message ~ (?P<hostname>\\S+)", "would hide the event field"},
		{"listen_udp = 127.0.0.1:0\naggregate_by_x = src", "[collector_test] aggregate_by_x: there is no rule_x"},
	}
	for _, tt := range tests {
		_, err := build(t, tt.body)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want %q", tt.body, err, tt.want)
		}
	}
}

// TestConfigUnknownFields: a field name no event can have is a
// configuration error naming the section and key, with the nearest known
// name (issue 16 item 5); vendor keys are written ext.<key>.
func TestConfigUnknownFields(t *testing.T) {
	tests := []struct{ body, want string }{
		{"rule_ssh = app_nmae = sshd && message ~ Failed",
			`[collector_test] rule_ssh: unknown field "app_nmae" (did you mean "app_name"?)`},
		{"rule_x = hostname = a && mesage ~ x", `[collector_test] rule_x: unknown field "mesage" (did you mean "message"?)`},
		{"rule_x = usrNmae = bob", `[collector_test] rule_x: unknown field "usrNmae" (did you mean "usrName"?)`},
		{"rule_x = FTNTFGTlevel = warning", `rule_x: unknown field "FTNTFGTlevel": not an event field, ` +
			`a CEF/LEEF standard key or a field of an extract_ key (a vendor's extension key is written ext.FTNTFGTlevel)`},
		{"rule_x = sd.foo = 1", `rule_x: field "sd.foo": want sd.<SD-ID>.<param>`},
		{"aggregate_by = signatrue,src", `[collector_test] aggregate_by: unknown field "signatrue" (did you mean "signature"?)`},
		{"rule_a = src = 1.2.3.4\naggregate_by_a = hostnmae", `[collector_test] aggregate_by_a: unknown field "hostnmae" (did you mean "hostname"?)`},
		{"rule_ssh_fail = src = 1.2.3.4\naggregate_by_ssh_fial = src", `aggregate_by_ssh_fial: there is no rule_ssh_fial (did you mean aggregate_by_ssh_fail?)`},
		{"extract_x = app_nmae = sshd && message ~ (?P<src>\\S+)", `[collector_test] extract_x: unknown field "app_nmae" (did you mean "app_name"?)`},
		{"extract_x = message ~ from (?P<attacker>\\S+)\nrule_x = atacker = 1", `rule_x: unknown field "atacker" (did you mean "attacker"?)`},
	}
	for _, tt := range tests {
		_, err := build(t, "listen_udp = 127.0.0.1:0\n"+tt.body)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q:\n got  %v\n want %s", tt.body, err, tt.want)
		}
	}
	// What events do have is accepted.
	for _, ok := range []string{
		"rule_x = app_name = sshd && message ~ x && sd.meta@1.zone = dmz && ext.FTNTFGTlevel = warning",
		"rule_x = src = 1.2.3.4 && usrName = bob && cs1Label = Policy && cef_severity >= 7 && ext.TrendMicroDsFileMD5 != x",
		"extract_x = message ~ from (?P<attacker>\\S+)\nrule_x = attacker ~ ^203\\.\naggregate_by = attacker,hostname",
	} {
		if _, err := build(t, "listen_udp = 127.0.0.1:0\n"+ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// TestUDPAndTCPRules sends plain, CEF and malformed messages over UDP and
// TCP; only rule matches become submissions, the rest is counted.
func TestUDPAndTCPRules(t *testing.T) {
	s := start(t, `listen_udp = 127.0.0.1:0
listen_tcp = 127.0.0.1:0
rule_ssh = app_name = sshd && message ~ Failed password
rule_cef = cef_severity >= 7
tags = netsec
group_assignments = g9`)
	udp := dial(t, "udp", s.addr(t, "udp"))
	tcp := dial(t, "tcp", s.addr(t, "tcp"))
	send := []struct {
		conn string
		msg  string
	}{
		{"udp", "<38>Nov 23 23:30:00 bastion sshd[42]: Failed password for root from 203.0.113.5 port 22 ssh2"},
		{"udp", "<38>Nov 23 23:30:01 bastion sshd[42]: Accepted password for bob from 203.0.113.6"},
		{"udp", "<999>broken"},
		{"tcp", "<134>1 2024-01-02T03:04:05Z fw asa - - - CEF:0|Cisco|ASA|9|106023|Deny tcp|8|src=198.51.100.7 spt=5555 dst=10.0.0.9 dpt=445 shost=evil.example.net request=http://evil.example.net/x"},
		{"tcp", "<134>1 2024-01-02T03:04:06Z fw asa - - - CEF:0|Cisco|ASA|9|106100|Permit|3|src=10.0.0.1"},
	}
	for _, m := range send {
		var err error
		if m.conn == "udp" {
			_, err = udp.Write([]byte(m.msg))
		} else {
			_, err = fmt.Fprintf(tcp, "%d %s", len(m.msg), m.msg)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	subs := waitSubs(t, s.sink, 2)
	s.waitCount(t, "parsed", 4)
	s.waitCount(t, "dropped_malformed", 1)
	s.waitCount(t, "dropped_not_selected", 2)
	got := map[string]*collector.Submission{}
	for _, sub := range subs {
		got[sub.Description] = sub
	}
	ssh := got["syslog bastion sshd: Failed password for root from 203.0.113.5 port 22 ssh2"]
	fw := got["CEF Cisco ASA: Deny tcp"]
	if ssh == nil || fw == nil {
		t.Fatalf("submissions %v", got)
	}
	if !obsMap(ssh)["ipv4=203.0.113.5"] {
		t.Errorf("ssh observables %v", ssh.Observables)
	}
	om := obsMap(fw)
	for _, want := range []string{"ipv4=198.51.100.7", "ipv4=10.0.0.9", "fqdn=evil.example.net",
		"url=http://evil.example.net/x", "ipv4_full_conversation=198.51.100.7:5555:10.0.0.9:445"} {
		if !om[want] {
			t.Errorf("missing observable %s in %v", want, fw.Observables)
		}
	}
	if fw.EventTime != time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) || fw.Type != "syslog" || fw.AnalysisMode != "correlation" ||
		fw.ToolInstance != "test-host" || fw.Tool != "syslog" || len(fw.Tags) != 1 ||
		len(fw.GroupAssignments) != 1 || fw.GroupAssignments[0] != "g9" {
		t.Errorf("submission fields %+v", fw)
	}
	var det struct {
		Rule  string
		Event Event
	}
	if err := json.Unmarshal(fw.Details, &det); err != nil || det.Rule != "cef" || det.Event.CEF.SignatureID != "106023" || det.Event.Transport != "tcp" {
		t.Errorf("details %s (%v)", fw.Details, err)
	}
}

// TestAggregation groups by signature and source; the pending group is
// submitted when Run stops.
func TestAggregation(t *testing.T) {
	s := start(t, `listen_tcp = 127.0.0.1:0
aggregate_by = signature,src
aggregate_window = 1h
aggregate_max_events = 2`)
	tcp := dial(t, "tcp", s.addr(t, "tcp"))
	for i := range 5 {
		src := "10.0.0.1"
		if i == 4 {
			src = "10.0.0.2"
		}
		fmt.Fprintf(tcp, "<134>1 2024-01-02T03:04:0%dZ ids snort - - - CEF:0|S|IDS|1|2010935|Scan|5|src=%s dst=10.9.9.9\n", i, src)
	}
	s.waitCount(t, "accepted", 5)
	if n := len(s.sink.Submissions()); n != 0 {
		t.Fatalf("%d submissions before the window ended", n)
	}
	s.stop(t)
	subs := s.sink.Submissions()
	if len(subs) != 2 {
		t.Fatalf("%d submissions after shutdown, want 2", len(subs))
	}
	for _, sub := range subs {
		var det struct {
			Count         int
			Events        []Event
			EventsOmitted int               `json:"events_omitted"`
			AggregateKey  map[string]string `json:"aggregate_key"`
		}
		if err := json.Unmarshal(sub.Details, &det); err != nil {
			t.Fatal(err)
		}
		switch det.AggregateKey["src"] {
		case "10.0.0.1":
			if det.Count != 4 || len(det.Events) != 2 || det.EventsOmitted != 2 || !strings.HasSuffix(sub.Description, "(4 events)") {
				t.Errorf("group 10.0.0.1: %s %s", sub.Description, sub.Details)
			}
			if sub.EventTime != time.Date(2024, 1, 2, 3, 4, 0, 0, time.UTC) {
				t.Errorf("event time %v", sub.EventTime)
			}
		case "10.0.0.2":
			if det.Count != 1 {
				t.Errorf("group 10.0.0.2: %s", sub.Details)
			}
		default:
			t.Errorf("key %v", det.AggregateKey)
		}
	}
}

func TestAggregationWindow(t *testing.T) {
	s := start(t, "listen_udp = 127.0.0.1:0\naggregate_by = hostname\naggregate_window = 20ms")
	udp := dial(t, "udp", s.addr(t, "udp"))
	for range 3 {
		fmt.Fprint(udp, "<13>Nov 23 23:30:00 h1 app: x")
	}
	subs := waitSubs(t, s.sink, 1) // flushed by the window, not by shutdown
	if !strings.Contains(string(subs[0].Details), `"aggregate_key":{"hostname":"h1"}`) {
		t.Errorf("details %s", subs[0].Details)
	}
}

// TestStoreFailureRetries: a store outage delays submissions, loses none.
func TestStoreFailureRetries(t *testing.T) {
	s := start(t, "listen_tcp = 127.0.0.1:0")
	s.sink.SetFail(errors.New("store down"))
	tcp := dial(t, "tcp", s.addr(t, "tcp"))
	fmt.Fprint(tcp, "<13>Nov 23 23:30:00 h app: one\n<13>Nov 23 23:30:00 h app: two\n")
	s.waitCount(t, "submit_retry", 2)
	s.sink.SetFail(nil)
	waitSubs(t, s.sink, 2)
	if d := s.count("dropped_shutdown"); d != 0 {
		t.Errorf("dropped %d", d)
	}
}

func TestTLS(t *testing.T) {
	cert, key, certPEM := tlsFiles(t)
	s := start(t, fmt.Sprintf("listen_tls = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s", cert, key))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	c, err := tls.Dial("tcp", s.addr(t, "tls"), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "<13>1 2024-01-02T03:04:05Z h app - - - over tls to 192.0.2.1\n")
	subs := waitSubs(t, s.sink, 1)
	if !obsMap(subs[0])["ipv4=192.0.2.1"] {
		t.Errorf("observables %v", subs[0].Observables)
	}
}

// tlsFiles writes a self-signed localhost certificate and key.
func tlsFiles(t *testing.T) (cert, key string, certPEM []byte) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	cert, key = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, certPEM
}

func selfSigned(t *testing.T) ([]byte, []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// TestLogger sends with util-linux logger in both formats over UDP and TCP.
func TestLogger(t *testing.T) {
	logger, err := exec.LookPath("logger")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("logger (util-linux) is required in CI")
		}
		t.Skip("logger (util-linux) not installed; apt-get install bsdutils")
	}
	s := start(t, "listen_udp = 127.0.0.1:0\nlisten_tcp = 127.0.0.1:0\nrule_mine = message ~ ^ace-test")
	n := 0
	for _, proto := range []string{"udp", "tcp"} {
		_, port, _ := strings.Cut(s.addr(t, proto), "127.0.0.1:")
		for _, format := range []string{"rfc5424", "rfc3164"} {
			msg := fmt.Sprintf("ace-test %s %s from 192.0.2.%d", proto, format, n+1)
			out, err := exec.Command(logger, "--server", "127.0.0.1", "--port", port, "--"+proto, "--"+format,
				"-t", "acetest", "-p", "local3.warning", msg).CombinedOutput()
			if err != nil {
				t.Fatalf("logger: %v: %s", err, out)
			}
			n++
		}
	}
	// Octet-counting framing with RFC 5424 structured data and MSGID.
	_, tport, _ := strings.Cut(s.addr(t, "tcp"), "127.0.0.1:")
	if out, err := exec.Command(logger, "--server", "127.0.0.1", "--port", tport, "--tcp", "--octet-count", "--rfc5424",
		"--msgid", "ID47", "--sd-id", "zoo@32473", "--sd-param", `tiger="hungry"`, "-t", "acetest", "-p", "local3.warning",
		"ace-test tcp rfc5424 octet-counted").CombinedOutput(); err != nil {
		t.Fatalf("logger: %v: %s", err, out)
	}
	n++
	// One message that no rule selects.
	_, port, _ := strings.Cut(s.addr(t, "udp"), "127.0.0.1:")
	if out, err := exec.Command(logger, "--server", "127.0.0.1", "--port", port, "--udp", "unrelated").CombinedOutput(); err != nil {
		t.Fatalf("logger: %v: %s", err, out)
	}
	subs := waitSubs(t, s.sink, n)
	s.waitCount(t, "dropped_not_selected", 1)
	seen := map[string]bool{}
	for _, sub := range subs {
		var det struct{ Event Event }
		if err := json.Unmarshal(sub.Details, &det); err != nil {
			t.Fatal(err)
		}
		ev := det.Event
		if ev.AppName != "acetest" || ev.Facility != 19 || ev.Severity != 4 || ev.Time.IsZero() {
			t.Errorf("event %+v", ev)
		}
		seen[ev.Transport+" "+ev.Format] = true
		if !strings.Contains(ev.Message, ev.Transport+" "+ev.Format) {
			t.Errorf("message %q came as %s %s", ev.Message, ev.Transport, ev.Format)
		}
	}
	var octet *Event
	for _, sub := range subs {
		var det struct{ Event Event }
		_ = json.Unmarshal(sub.Details, &det)
		if strings.Contains(det.Event.Message, "octet-counted") {
			octet = &det.Event
		}
	}
	if octet == nil || octet.MsgID != "ID47" || octet.StructuredData["zoo@32473"]["tiger"] != "hungry" {
		t.Errorf("octet-counted message %+v", octet)
	}
	if len(seen) != 4 {
		t.Errorf("seen %v", seen)
	}
}

func TestTLSHandshakeFailure(t *testing.T) {
	cert, key, _ := tlsFiles(t)
	s := start(t, fmt.Sprintf("listen_tls = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s", cert, key))
	c := dial(t, "tcp", s.addr(t, "tls"))
	fmt.Fprint(c, "<13>plain text to a TLS port\n")
	s.waitCount(t, "tls_handshake_error", 1)
}
