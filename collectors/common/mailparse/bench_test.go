//go:build unix

package mailparse

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// realisticMix is the fixtures plus the kinds of messages that dominate a
// corporate mail flow by volume: an HTML newsletter with many links and a
// message with a ~300 KB PDF attachment.
func realisticMix(b *testing.B) [][]byte {
	var mix [][]byte
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, p := range files {
		mix = append(mix, fixture(b, filepath.Base(p)))
	}
	var news strings.Builder
	news.WriteString("From: News <news@letters.example>\r\nTo: alice@corp.example\r\nSubject: Weekly digest\r\n" +
		"Date: Mon, 20 May 2024 08:00:00 +0000\r\nMessage-ID: <nl-1@letters.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=nl\r\n\r\n--nl\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for i := range 60 {
		fmt.Fprintf(&news, "Story %d: https://letters.example/s/%d?utm_source=mail\r\n", i, i)
	}
	news.WriteString("--nl\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>")
	for i := range 60 {
		fmt.Fprintf(&news, "<div><a href=\"https://letters.example/s/%d?utm_source=mail&amp;h=1\">Story %d</a>"+
			"<img src=\"https://img%d.cdn.example/p.png\"><p>%s</p></div>\r\n", i, i, i%7, strings.Repeat("Lorem ipsum dolor sit amet. ", 20))
	}
	news.WriteString("</body></html>\r\n--nl--\r\n")
	mix = append(mix, []byte(news.String()))

	pdf := make([]byte, 300<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range pdf {
		pdf[i] = byte(rng.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(pdf)
	var att strings.Builder
	att.WriteString("From: Vendor <billing@vendor.example>\r\nTo: ap@corp.example\r\nSubject: Invoice attached\r\n" +
		"Received: from mx.vendor.example (mx.vendor.example [198.51.100.9]) by mx1.corp.example\r\n" +
		"Date: Mon, 20 May 2024 09:00:00 +0000\r\nMessage-ID: <inv@vendor.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nPlease find the invoice attached.\r\n" +
		"--m\r\nContent-Type: application/pdf; name=invoice.pdf\r\nContent-Disposition: attachment; filename=invoice.pdf\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		att.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	att.WriteString(enc + "\r\n--m--\r\n")
	mix = append(mix, []byte(att.String()))
	return mix
}

// BenchmarkParseMix reports extraction throughput (MB/s from SetBytes,
// msgs/s as a custom metric) over one pass of the mix per iteration.
func BenchmarkParseMix(b *testing.B) {
	mix := realisticMix(b)
	total := 0
	for _, m := range mix {
		total += len(m)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		for _, m := range mix {
			if r := Parse(m, Options{}); r.Details.Size != len(m) {
				b.Fatal("bad size")
			}
		}
	}
	b.ReportMetric(float64(b.N*len(mix))/b.Elapsed().Seconds(), "msgs/s")
	if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(float64(b.N*len(mix))/cpu, "msgs/cpu-s")
		b.ReportMetric(float64(b.N*total)/cpu/1e6, "MB/cpu-s")
	}
}

// cpuTime is the process's user+system CPU time, so throughput can also be
// reported per CPU second, independent of other load on the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
