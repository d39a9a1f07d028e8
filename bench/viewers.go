package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// viewers are live-page clients: each reads the daemon's /live/events
// stream (as a browser's EventSource would) until stopped.
type viewers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	rows   atomic.Int64 // row messages received, all viewers together
}

// startViewers connects n clients to the live stream at base and waits
// until each has its first message (the hello), so the measured run has
// them all connected.
func startViewers(ctx context.Context, base string, n int) (*viewers, error) {
	ctx, cancel := context.WithCancel(ctx)
	v := &viewers{cancel: cancel}
	ready := make(chan error, n)
	for range n {
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			v.read(ctx, base, ready)
		}()
	}
	for range n {
		if err := <-ready; err != nil {
			v.stop()
			return nil, fmt.Errorf("bench: live viewer: %w", err)
		}
	}
	return v, nil
}

func (v *viewers) read(ctx context.Context, base string, ready chan<- error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/live/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ready <- err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		ready <- fmt.Errorf("%s/live/events: %s", base, resp.Status)
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first && strings.HasPrefix(line, "data: ") {
			first = false
			ready <- nil
		}
		if strings.HasPrefix(line, `data: {"row"`) || strings.HasPrefix(line, `data: {"t":"row"`) {
			v.rows.Add(1)
		}
	}
	if first {
		ready <- fmt.Errorf("%s/live/events ended before its first message", base)
	}
}

func (v *viewers) stop() {
	v.cancel()
	v.wg.Wait()
}
