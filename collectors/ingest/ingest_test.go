package ingest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/collectors/ingest"
)

func TestConfigProblems(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := writeTLS(t, dir)
	tests := []struct{ body, want string }{
		{"listen = 127.0.0.1:0\n", ""},
		{"", "listen"},
		{"listen = :80\n", "no host"},
		{"listen = 127.0.0.1:0\ntls_cert = " + cert + "\n", "tls_cert and tls_key"},
		{"listen = 127.0.0.1:0\ntls_client_ca = " + cert + "\n", "need HTTPS"},
		{"listen = 127.0.0.1:0\ntls_cert = " + cert + "\ntls_key = " + key + "\ntls_client_ca = " + cert + "\n", ""},
		{"listen = 127.0.0.1:0\ntls_cert = " + key + "\ntls_key = " + key + "\n", "loading certificate"},
		{"listen = 127.0.0.1:0\nobservable.src = \n", "observable.FIELD = TYPE"},
		{"listen = 127.0.0.1:0\nmax_request_size = 0\n", "must be positive"},
		{"listen = 127.0.0.1:0\nbogus = 1\n", "bogus"},
	}
	for _, tt := range tests {
		_, err := collectortest.Build(t, tt.body, ingest.New)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%q: error %v, want %q", tt.body, err, tt.want)
		}
	}
}

func TestMappingSubmission(t *testing.T) {
	m := ingest.Mapping{DescriptionField: "alert.signature", TimeField: "ts", RankField: "sev", DedupLines: true,
		Observables: []ingest.FieldType{{"dst", "ipv4"}, {"src", "ipv4"}, {"user.name", "user"}, {"urls", "url"}}}
	g := collector.Global{Hostname: "h"}
	f := collector.SubmissionFields{AnalysisMode: "correlation", Type: "ingest", Tags: []string{"t"}}
	tests := []struct {
		line    string
		want    string // description|time|rank|observables
		wantErr string
	}{
		{`{"alert":{"signature":"ET X"},"ts":"2024-05-06T07:08:09Z","sev":2,"src":"10.0.0.1","dst":"::ffff:10.0.0.2","user":{"name":"bob"},"urls":["http://a/","http://b/"]}`,
			"ET X|2024-05-06T07:08:09Z|2|ipv4:10.0.0.2 ipv4:10.0.0.1 user:bob url:http://a/ url:http://b/", ""},
		{`{"ts":1700000000.5,"src":"2001:db8::1","src2":"x"}`, "in event|2023-11-14T22:13:20.5Z|0|ipv6:2001:db8::1", ""},
		{`{"ts":"2022-01-02T03:04:05.000000+0000","src":"not an ip"}`, "in event|2022-01-02T03:04:05Z|0|", ""},
		{`{"ts":"yesterday"}`, "", "ts"},
		{`[1,2]`, "", "not a JSON object"},
		{`{} {}`, "", "not one JSON value"},
		{`{} }`, "", "not one JSON value"},
		{`null`, "", "not a JSON object"},
	}
	for _, tt := range tests {
		sub, err := m.Submission([]byte(tt.line), "in", f, g)
		if tt.wantErr != "" {
			if err == nil || !errors.Is(err, collector.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.line, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.line, err)
		}
		var obs []string
		for _, o := range sub.Observables {
			obs = append(obs, o.Type+":"+o.Value)
		}
		got := fmt.Sprintf("%s|%s|%d|%s", sub.Description, sub.EventTime.Format(time.RFC3339Nano), sub.Rank, strings.Join(obs, " "))
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.line, got, tt.want)
		}
		if sub.AnalysisMode != "correlation" || sub.Type != "ingest" || sub.Tags[0] != "t" || !strings.HasPrefix(sub.DedupKey, "ndjson:") ||
			string(sub.Details) != tt.line {
			t.Errorf("%s: fields %+v", tt.line, sub)
		}
	}
}

func FuzzMappingSubmission(f *testing.F) {
	f.Add([]byte(`{"description":"x","timestamp":"2024-05-06T07:08:09Z","src_ip":"10.0.0.1"}`))
	f.Add([]byte(`{"timestamp":1e300}`))
	f.Add([]byte(`{"src_ip":["1.2.3.4",5,{"a":1}]}`))
	m := ingest.Mapping{DescriptionField: "description", TimeField: "timestamp", RankField: "rank",
		Observables: []ingest.FieldType{{"src_ip", "ipv4"}, {"a.b", "fqdn"}}}
	f.Fuzz(func(t *testing.T, line []byte) {
		sub, err := m.Submission(line, "f", collector.SubmissionFields{}, collector.Global{})
		if err != nil {
			if !errors.Is(err, collector.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		if err := sub.Validate(); err != nil {
			t.Fatalf("built an invalid submission: %v", err)
		}
	})
}

// ingestRun is a running collector: its base URL, an HTTP client that
// trusts it, its CA file, env and spool directory.
type ingestRun struct {
	base, caFile, spool string
	client              *http.Client
	env                 *collector.Env
}

// runIngest runs the collector over HTTPS on 127.0.0.1:0 against sink.
func runIngest(t *testing.T, body string, sink collector.Sink) *ingestRun {
	t.Helper()
	dir := t.TempDir()
	cert, key, ca := writeTLS(t, dir)
	c, err := collectortest.Build(t, fmt.Sprintf("listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\nspool_dir = %s\n%s",
		cert, key, filepath.Join(dir, "spool"), body), ingest.New)
	if err != nil {
		t.Fatal(err)
	}
	env := collectortest.Env(t, "api_in", sink, collectortest.NewState())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, env) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	addr, err := c.(*ingest.Collector).Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca)
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(client.CloseIdleConnections)
	return &ingestRun{base: "https://" + addr.String(), client: client, env: env, caFile: ca, spool: filepath.Join(dir, "spool")}
}

func post(t *testing.T, c *http.Client, url, body string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := c.Post(url, "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &m)
	return resp, m
}

// 200 only after Submit returned; 503 with Retry-After while the store is
// full or failing, for ACE API submissions and NDJSON alike; nothing stays
// in the spool directory.
func TestAnswersFollowTheStore(t *testing.T) {
	sink := collectortest.NewSink()
	r := runIngest(t, "observable.src_ip = ipv4\n", sink)
	base, client, env := r.base, r.client, r.env
	sink.SetFail(fmt.Errorf("committing: %w", syscall.ENOSPC))

	ace, err := api.NewClient(api.ClientOptions{CAFile: r.caFile, RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ace.Close()
	sub := collector.NewSubmission("relayed alert")
	sub.AddObservable(collector.ObsIPv4, "192.0.2.5")
	src := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(src, []byte("payload"), 0o600)
	sub.AddFile(src, "dir/f.bin")
	_, err = ace.Submit(context.Background(), base, sub)
	var se *api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 || se.RetryAfter != 60*time.Second {
		t.Fatalf("store full: %v", err)
	}
	resp, m := post(t, client, base+"/api/ingest/ndjson", `{"description":"e1","src_ip":"10.0.0.1"}`+"\n")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "60" || m["stored"].(float64) != 0 {
		t.Fatalf("ndjson while full: %d %v", resp.StatusCode, m)
	}

	sink.SetFail(nil)
	res, err := ace.Submit(context.Background(), base, sub)
	if err != nil {
		t.Fatal(err)
	}
	subs := sink.Submissions()
	if len(subs) != 1 || subs[0].UUID != res.UUID || subs[0].Description != "relayed alert" ||
		subs[0].DedupKey != "submission_uuid:"+sub.UUID || string(sink.Contents[res.UUID]["dir/f.bin"]) != "payload" {
		t.Fatalf("stored %+v", subs)
	}
	resp, m = post(t, client, base+"/api/ingest/ndjson", "{\"description\":\"e1\",\"src_ip\":\"10.0.0.1\"}\n\n{\"description\":\"e2\"}\n")
	if resp.StatusCode != 200 || m["result"].(map[string]any)["stored"].(float64) != 2 {
		t.Fatalf("ndjson: %d %v", resp.StatusCode, m)
	}
	if subs := sink.Submissions(); len(subs) != 3 || subs[1].Observables[0].Value != "10.0.0.1" || subs[2].Description != "e2" {
		t.Fatalf("ndjson stored %+v", subs[1:])
	}
	resp, m = post(t, client, base+"/api/ingest/ndjson", "{\"description\":\"ok\"}\nnot json\n")
	if resp.StatusCode != 400 || !strings.Contains(m["error"].(string), "line 2") || len(sink.Submissions()) != 3 {
		t.Fatalf("bad line: %d %v", resp.StatusCode, m)
	}
	for _, p := range []string{"/api/common/get_valid_companies", "/api/common/get_valid_observables", "/api/common/get_valid_directives"} {
		resp, err := client.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Result []map[string]any }
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(v.Result) == 0 || v.Result[0]["name"] == nil {
			t.Errorf("%s: %d %v", p, resp.StatusCode, v)
		}
	}
	if env.Stats.Get("api_in", "submitted") != 3 || env.Stats.Get("api_in", "received") != 5 {
		t.Errorf("counters: %v", env.Stats.Snapshot())
	}
	entries, _ := os.ReadDir(r.spool)
	if len(entries) != 0 {
		t.Errorf("spool keeps %d entries", len(entries))
	}
}

// Client certificates: with tls_client_ca a client without one is refused
// during the handshake.
func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	cert, key, caFile := writeTLS(t, dir)
	c, err := collectortest.Build(t, fmt.Sprintf("listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\ntls_client_ca = %s\nspool_dir = %s\n",
		cert, key, caFile, filepath.Join(dir, "spool")), ingest.New)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, collectortest.Env(t, "in", collectortest.NewSink(), collectortest.NewState()))
	}()
	defer func() { cancel(); <-done }()
	addr, _ := c.(*ingest.Collector).Addr(ctx)
	ca, clientCert := testCA.ca, testCA.client
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, tt := range []struct {
		certs []tls.Certificate
		ok    bool
	}{{nil, false}, {[]tls.Certificate{clientCert}, true}} {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: tt.certs}}}
		resp, err := cl.Get("https://" + addr.String() + "/api/common/ping")
		if tt.ok != (err == nil) {
			t.Errorf("with %d client certificates: %v", len(tt.certs), err)
		}
		if err == nil {
			resp.Body.Close()
		}
		cl.CloseIdleConnections()
	}
}

// testCA issues every certificate of this package's tests.
type caFiles struct {
	ca     *api.LocalCA
	client tls.Certificate
}

var testCA caFiles

// writeTLS writes a server certificate for 127.0.0.1 and its CA into dir.
func writeTLS(t *testing.T, dir string) (cert, key, ca string) {
	t.Helper()
	if testCA.ca == nil {
		c, err := api.NewLocalCA()
		if err != nil {
			t.Fatal(err)
		}
		cl, err := c.IssueClient("client")
		if err != nil {
			t.Fatal(err)
		}
		testCA = caFiles{ca: c, client: cl}
	}
	srv, err := testCA.ca.Issue("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, ca = filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv.key"), filepath.Join(dir, "ca.pem")
	if err := api.WriteKeyPair(srv, cert, key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testCA.ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, ca
}
