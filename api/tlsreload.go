package api

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// reloadingTransport is the client's http.RoundTripper. Before each request
// it checks the TLS files (CA bundle, client certificate, client key) for a
// change of identity (replaced by a rename), size or modification time; on
// a change it reads them again and
// switches to a fresh http.Transport, so new connections use the new
// material while requests in flight finish on the old one. Files that do not
// load (half written, a certificate without its new key yet) are reported
// and the previous material stays in use until the next change.
type reloadingTransport struct {
	o     ClientOptions
	log   *slog.Logger
	files []string

	mu      sync.Mutex
	cur     *http.Transport
	stamps  []fileStamp
	retired []*http.Transport // replaced, closed with the client
}

type fileStamp struct{ fi os.FileInfo } // nil: could not stat

func (a fileStamp) same(b fileStamp) bool {
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil
	}
	return os.SameFile(a.fi, b.fi) && a.fi.Size() == b.fi.Size() && a.fi.ModTime().Equal(b.fi.ModTime())
}

func newReloadingTransport(o ClientOptions, log *slog.Logger) (*reloadingTransport, error) {
	t := &reloadingTransport{o: o, log: log}
	for _, f := range []string{o.CAFile, o.CertFile, o.KeyFile} {
		if f != "" {
			t.files = append(t.files, f)
		}
	}
	t.stamps = stampFiles(t.files)
	conf, err := clientTLSConfig(o)
	if err != nil {
		return nil, err
	}
	t.cur = newHTTPTransport(conf)
	return t, nil
}

func newHTTPTransport(conf *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment, // like python-requests
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       conf,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func stampFiles(files []string) []fileStamp {
	out := make([]fileStamp, len(files))
	for i, f := range files {
		if fi, err := os.Stat(f); err == nil {
			out[i] = fileStamp{fi}
		}
	}
	return out
}

// RoundTrip implements http.RoundTripper.
func (t *reloadingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.current().RoundTrip(req)
}

// current returns the transport for the TLS files as they are now.
func (t *reloadingTransport) current() *http.Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.files) == 0 {
		return t.cur
	}
	stamps := stampFiles(t.files)
	if slices.EqualFunc(stamps, t.stamps, fileStamp.same) {
		return t.cur
	}
	t.stamps = stamps
	conf, err := clientTLSConfig(t.o)
	if err != nil {
		t.log.Warn("TLS files changed but do not load; still using the previous ones", "error", err)
		return t.cur
	}
	t.cur.CloseIdleConnections()
	t.retired = append(t.retired, t.cur)
	if len(t.retired) > 8 {
		// Long retired: whatever they still hold has ended or timed out.
		t.retired = slices.Delete(t.retired, 0, 1)
	}
	t.cur = newHTTPTransport(conf)
	t.log.Info("TLS files changed; new connections use them", "files", t.files)
	return t.cur
}

func (t *reloadingTransport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.CloseIdleConnections()
	for _, r := range t.retired {
		r.CloseIdleConnections()
	}
}
