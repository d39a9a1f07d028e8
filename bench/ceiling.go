package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ace-collector/ace-collector/api"
)

// ceilingBody builds a multipart/form-data submit body like the delivery
// client sends: the `analysis` JSON of a synthetic submission and, when
// attachSize > 0, one attachment of that many bytes.
func ceilingBody(o *Options, payload []byte) ([]byte, string, error) {
	sub := benchSubmission(o, 0)
	analysis, err := api.EncodeSubmission(sub, time.Now())
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="analysis"`)
	pw, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	pw.Write(analysis)
	if o.AttachSize > 0 {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="sample.bin"`)
		fw, err := mw.CreatePart(h)
		if err != nil {
			return nil, "", err
		}
		fw.Write(payload[:o.AttachSize])
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// measureCeiling POSTs the body to a fresh receiver of the same kind as the
// pipeline's (--node light or store) with Threads × Groups plain net/http
// clients in parallel for CeilingFor, and returns the requests/s achieved:
// the loopback HTTP ceiling the pipeline is compared with.
func measureCeiling(ctx context.Context, o *Options, dir string, payload []byte, log *slog.Logger) (float64, error) {
	body, ctype, err := ceilingBody(o, payload)
	if err != nil {
		return 0, fmt.Errorf("ceiling: building body: %w", err)
	}
	node, err := startBenchNode(dir, nil, log, o.NodeFsync, o.Node == "light")
	if err != nil {
		return 0, err
	}
	defer node.stop()
	conc := o.Threads * o.Groups * max(o.Instances, 1) // as many as the pipeline's workers
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     30 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := node.location() + "/api/analysis/submit"
	cctx, cancel := context.WithTimeout(ctx, o.CeilingFor)
	defer cancel()
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cctx.Err() == nil {
				req, err := http.NewRequestWithContext(cctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				req.Header.Set("Content-Type", ctype)
				resp, err := client.Do(req)
				if err != nil {
					if cctx.Err() == nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("HTTP %d", resp.StatusCode))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if ok.Load() == 0 {
		return 0, fmt.Errorf("ceiling: no request succeeded (%d failed): %v", failed.Load(), firstErr.Load())
	}
	if n := failed.Load(); n > 0 {
		log.Warn("ceiling: some requests failed", "failed", n, "first_error", firstErr.Load())
	}
	return float64(ok.Load()) / elapsed.Seconds(), nil
}
