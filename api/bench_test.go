package api

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"
)

// benchSubmit measures client→server submissions over loopback HTTP: the
// server fsyncs every file, analysis.json, the directories and the journal
// line before answering, so this is a durable-receive rate.
func benchSubmit(b *testing.B, fileSize int, tls bool) {
	dir := b.TempDir()
	var loc string
	var c *Client
	if tls {
		addr := startSink(b, SinkOptions{Dir: dir, Logger: testLogger(b)})
		loc = addr
		c = newTestClient(b, ClientOptions{CAFile: dir + "/ca.pem"})
	} else {
		_, loc, _ = startServer(b, ServerOptions{Dir: dir, OnSubmit: func(*Received) {}})
		c = newTestClient(b, ClientOptions{})
	}
	src := b.TempDir()
	var path string
	if fileSize > 0 {
		path = writeTestFile(b, src, "payload", bytes.Repeat([]byte("x"), fileSize))
	}
	ctx := testCtx(b)
	b.SetBytes(int64(fileSize))
	b.ResetTimer()
	start := time.Now()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sub := newSub("benchmark submission")
			sub.AddObservable("ipv4", "192.0.2.1")
			if path != "" {
				sub.AddFile(path, "payload.bin")
			}
			if _, err := c.Submit(ctx, loc, sub); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submissions/s")
}

func BenchmarkSubmitNoFiles(b *testing.B)      { benchSubmit(b, 0, false) }
func BenchmarkSubmit10KiBFile(b *testing.B)    { benchSubmit(b, 10<<10, false) }
func BenchmarkSubmitNoFilesTLS(b *testing.B)   { benchSubmit(b, 0, true) }
func BenchmarkSubmit10KiBFileTLS(b *testing.B) { benchSubmit(b, 10<<10, true) }

// BenchmarkClientOnly isolates the client (encoding, streaming, HTTP) from
// the server's fsyncs: the handler drains the body and answers like ACE.
func BenchmarkClientOnly10KiBFile(b *testing.B) {
	loc := startHandler(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"result": {"uuid": "11111111-2222-3333-4444-555555555555"}}`)
	})
	c := newTestClient(b, ClientOptions{})
	path := writeTestFile(b, b.TempDir(), "payload", bytes.Repeat([]byte("x"), 10<<10))
	ctx := testCtx(b)
	b.SetBytes(10 << 10)
	b.ResetTimer()
	start := time.Now()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sub := newSub("benchmark submission")
			sub.AddFile(path, "payload.bin")
			if _, err := c.Submit(ctx, loc, sub); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submissions/s")
}
