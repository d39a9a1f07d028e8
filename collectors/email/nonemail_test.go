package email

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// Files in the spool that are not mail (an image, a CSV report) are not
// "Mailbox Scanner Detection" alerts with their bytes read as headers:
// each is submitted as a file (analysis mode "analysis", tag non_email),
// and neither its details nor any log line carries its content.
func TestNonEmailSubmittedAsFile(t *testing.T) {
	spool := t.TempDir()
	c := build(t, "spool_dir = "+spool+"\nscan_interval = 10ms\n")
	files := []string{"not_email.png", "not_email.csv", "garbage.bin"}
	for i, name := range files {
		copyFixture(t, name, filepath.Join(spool, "2024010203", name), time.Now().Add(time.Duration(i)*time.Second))
	}
	copyFixture(t, "header_only.eml", filepath.Join(spool, "2024010203", "mail"), time.Now().Add(time.Minute))
	sink := collectortest.NewSink()
	env := collectortest.Env(t, "mail", sink, collectortest.NewState())
	logs := collectortest.RecordLogs(env)
	stop := start(t, c, env)
	subs, err := sink.WaitFor(waitCtx(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	for i, name := range files {
		checkFileSubmission(t, sink, subs[i], name)
	}
	if subs[3].AnalysisMode != "email" || !strings.HasPrefix(subs[3].Description, "ACE Mailbox Scanner Detection - ") {
		t.Errorf("the real mail: %q %q", subs[3].Description, subs[3].AnalysisMode)
	}
	warned := 0
	for _, r := range logs.Records() {
		line, _ := json.Marshal(r)
		if len(line) > 1024 {
			t.Errorf("log line of %d bytes: %.200s", len(line), line)
		}
		if r["msg"] == "spool file is not an email; submitting it as a file" {
			warned++
		}
	}
	if warned != 3 || env.Stats.Get("mail", "non_email") != 3 || env.Stats.Get("mail", "submitted") != 4 {
		t.Errorf("warnings %d, counters %v", warned, env.Stats.Snapshot())
	}
}

// checkFileSubmission checks s is the file submission of fixture name.
func checkFileSubmission(t *testing.T, sink *collectortest.Sink, s *collector.Submission, name string) {
	t.Helper()
	orig, _ := os.ReadFile(filepath.Join(fixtures, name))
	sum := md5.Sum(orig)
	if s.Description != "ACE Mailbox Scanner - non-email file "+name || s.AnalysisMode != "analysis" ||
		!slices.Contains(s.Tags, "non_email") || s.Type != Type {
		t.Errorf("%s: %q mode %q tags %v type %q", name, s.Description, s.AnalysisMode, s.Tags, s.Type)
	}
	if string(sink.Contents[s.UUID][name]) != string(orig) {
		t.Errorf("%s: attached file differs", name)
	}
	if !hasObs(s, "file", name) || !hasObs(s, "md5", hex.EncodeToString(sum[:])) {
		t.Errorf("%s: observables %+v", name, s.Observables)
	}
	var d nonEmailDetails
	if err := json.Unmarshal(s.Details, &d); err != nil {
		t.Fatal(err)
	}
	if d.Size != int64(len(orig)) || d.NotEmail == "" || len(s.Details) > 1024 {
		t.Errorf("%s: details %s", name, s.Details)
	}
}

// non_email = reject moves such files to error_dir, counted as dropped.
func TestNonEmailRejected(t *testing.T) {
	spool, errDir := t.TempDir(), t.TempDir()
	c := build(t, "spool_dir = "+spool+"\nerror_dir = "+errDir+"\nscan_interval = 10ms\nnon_email = reject\n")
	copyFixture(t, "not_email.png", filepath.Join(spool, "2024010203", "img"), time.Now())
	copyFixture(t, "header_only.eml", filepath.Join(spool, "2024010203", "mail"), time.Now().Add(time.Minute))
	sink := collectortest.NewSink()
	env := collectortest.Env(t, "mail", sink, collectortest.NewState())
	stop := start(t, c, env)
	subs, err := sink.WaitFor(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if len(subs) != 1 || subs[0].AnalysisMode != "email" {
		t.Fatalf("submissions %d", len(subs))
	}
	if moved, _ := filepath.Glob(filepath.Join(errDir, "img.*")); len(moved) != 1 {
		t.Errorf("not moved to error_dir: %v", moved)
	}
	if env.Stats.Get("mail", "dropped_non_email") != 1 {
		t.Errorf("counters %v", env.Stats.Snapshot())
	}
}
