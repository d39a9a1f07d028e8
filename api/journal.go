package api

import (
	"fmt"
	"os"
	"sync"
)

// journal is an append-only JSON-lines file with group commit: concurrent
// appenders each write their line, and one fsync covers every line written
// before it started, so N simultaneous submissions cost one fsync, not N.
// Append returns only after its own line is on disk.
type journal struct {
	f       *os.File
	mu      sync.Mutex
	cond    *sync.Cond
	written uint64 // sequence number of the last line written
	synced  uint64 // every line up to this one is durable
	syncing bool
	failSeq uint64 // lines up to this one were covered by a failed fsync
	failErr error
	sync    bool
}

func openJournal(path string, durable bool) (*journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	j := &journal{f: f, sync: durable}
	j.cond = sync.NewCond(&j.mu)
	return j, nil
}

// Append writes line (which must end in a newline) and waits until it is
// durable.
func (j *journal) Append(line []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(line); err != nil {
		return fmt.Errorf("appending to journal: %w", err)
	}
	j.written++
	seq := j.written
	if !j.sync {
		return nil
	}
	for j.synced < seq {
		if seq <= j.failSeq {
			return fmt.Errorf("syncing journal: %w", j.failErr)
		}
		if j.syncing {
			j.cond.Wait()
			continue
		}
		j.syncing = true
		target := j.written
		j.mu.Unlock()
		err := j.f.Sync()
		j.mu.Lock()
		j.syncing = false
		if err != nil {
			j.failSeq, j.failErr = target, err
		} else {
			j.synced = target
		}
		j.cond.Broadcast()
	}
	return nil
}

func (j *journal) Close() error { return j.f.Close() }
