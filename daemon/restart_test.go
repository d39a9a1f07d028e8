package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The EVE collector's offset is a persistence key of the real embedded
// store: a daemon stopped and started again on the same data directory
// submits the lines appended meanwhile, and none of the earlier ones again.
func TestEVEResumesAcrossRestartOnTheRealStore(t *testing.T) {
	loc, received := sinkNode(t)
	dir := t.TempDir()
	logs := filepath.Join(dir, "suricata")
	if err := os.MkdirAll(logs, 0o750); err != nil {
		t.Fatal(err)
	}
	eve := filepath.Join(logs, "eve.json")
	alert := func(sid int) string {
		return fmt.Sprintf(`{"timestamp":"2024-01-02T03:04:05.123456+0000","event_type":"alert","src_ip":"10.0.0.%d","src_port":4444,"dest_ip":"192.0.2.1","dest_port":80,"proto":"TCP","alert":{"gid":1,"signature_id":%d,"rev":2,"signature":"ET TEST %d","severity":2}}`+"\n", sid, sid, sid)
	}
	appendLines := func(lines string) {
		f, err := os.OpenFile(eve, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(lines); err != nil {
			t.Fatal(err)
		}
	}
	appendLines(alert(1) + alert(2))
	conf := fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = %s\n[collection_group_g]\n"+
		"[collector_ids]\ntype = eve\npaths = %s\npoll_interval = 20ms\nrule_sev = alert.severity <= 2\n", dir, loc, eve)

	d := startDaemon(t, conf)
	eventually(t, "the first two alerts delivered", func() bool { return received() == 2 })
	d.stop()

	appendLines(alert(3))
	d = startDaemon(t, conf)
	eventually(t, "the appended alert delivered", func() bool { return received() >= 3 })
	eventually(t, "the queue empty", func() bool { n, _ := d.Store().Backlog(t.Context()); return n == 0 })
	if got := received(); got != 3 {
		t.Fatalf("received %d submissions over a restart, want 3 (no line twice)", got)
	}
}

// The email spool collector on the real embedded store: a message is
// removed from the spool only once stored, so a restart neither loses nor
// repeats one.
func TestEmailSpoolAcrossRestartOnTheRealStore(t *testing.T) {
	loc, received := sinkNode(t)
	dir := t.TempDir()
	spool := filepath.Join(dir, "email")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	mail := func(n int) {
		msg := fmt.Sprintf("From: alice@example.com\r\nTo: bob@corp.example\r\nSubject: invoice %d\r\n"+
			"Message-ID: <m%d@example.com>\r\nDate: Tue, 02 Jan 2024 03:04:05 +0000\r\n\r\nsee https://phish.example.net/%d\r\n", n, n, n)
		drop(t, spool, fmt.Sprintf("m%d.eml", n), msg)
	}
	conf := fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = %s\n[collection_group_g]\n"+
		"[collector_mail]\ntype = email\nspool_dir = %s\nscan_interval = 20ms\n", dir, loc, spool)
	mail(1)
	mail(2)
	d := startDaemon(t, conf)
	eventually(t, "two messages delivered", func() bool { return received() == 2 })
	d.stop()
	mail(3)
	d = startDaemon(t, conf)
	eventually(t, "the third message delivered", func() bool { return received() >= 3 })
	eventually(t, "the queue empty", func() bool { n, _ := d.Store().Backlog(t.Context()); return n == 0 })
	if got := received(); got != 3 {
		t.Fatalf("received %d submissions over a restart, want 3", got)
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "*.eml")); len(left) != 0 {
		t.Fatalf("messages left in the spool: %v", left)
	}
}
