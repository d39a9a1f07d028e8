package persistence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// walSyncer makes the embedded store's commits durable after the fact,
// beside the writer rather than inside its transactions.
//
// The writer commits with synchronous=NORMAL: the commit's WAL frames are
// written (they survive a process crash) but not fsync'd. A write that must
// be durable when its caller returns (an enqueue, the barrier before
// cleanup deletes files) is acknowledged only after an fsync of the WAL
// file that started after its commit: every frame written before the fsync
// is then on disk. Should a checkpoint have copied the frames into the
// database file and restarted the WAL meanwhile, the checkpoint synced the
// database file before the restart (SQLite does so at every synchronous
// level but OFF), so the commit is on disk either way. This is the
// durability synchronous=FULL gives, but one fsync serves every commit
// made while the previous one ran, and the writer goes on with its next
// transaction instead of waiting for the disk.
type walSyncer struct {
	path string // the WAL file, <db>-wal
	// syncFile makes the WAL durable; tests replace it.
	syncFile func() error

	mu      sync.Mutex
	waiting []*opReq // acknowledged by the next sync to start
	closed  bool
	kick    chan struct{}
	quit    chan struct{}
	wg      sync.WaitGroup

	f   *os.File // the WAL, opened by the syncer (only its loop uses f)
	dir bool     // the WAL's directory entry is known to be durable
}

func newWALSyncer(dbPath string) *walSyncer {
	y := &walSyncer{path: dbPath + "-wal", kick: make(chan struct{}, 1), quit: make(chan struct{})}
	y.syncFile = y.fsyncWAL
	y.wg.Add(1)
	go y.loop()
	return y
}

// after acknowledges r (sets its error and closes done) once a sync that
// starts after this call has completed.
func (y *walSyncer) after(r *opReq) {
	y.mu.Lock()
	if y.closed {
		y.mu.Unlock()
		r.err = ErrClosed
		close(r.done)
		return
	}
	y.waiting = append(y.waiting, r)
	y.mu.Unlock()
	select {
	case y.kick <- struct{}{}:
	default: // a kick is pending already
	}
}

// wait returns once every commit made before the call is durable.
func (y *walSyncer) wait(ctx context.Context) error {
	r := newReq(ctx)
	y.after(&r)
	<-r.done
	return r.err
}

func (y *walSyncer) loop() {
	defer y.wg.Done()
	for {
		select {
		case <-y.quit:
			y.syncWaiting() // what was committed before stop
			return
		case <-y.kick:
			y.syncWaiting()
		}
	}
}

// syncWaiting takes the writes waiting, syncs, and acknowledges them.
func (y *walSyncer) syncWaiting() {
	y.mu.Lock()
	batch := y.waiting
	y.waiting = nil
	y.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := y.syncFile()
	if err != nil {
		err = fmt.Errorf("persistence: making commits durable (fsync %s): %w", y.path, err)
	}
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

// stop acknowledges what is waiting (after a last sync) and stops.
func (y *walSyncer) stop() {
	y.mu.Lock()
	if y.closed {
		y.mu.Unlock()
		return
	}
	y.closed = true
	y.mu.Unlock()
	close(y.quit)
	y.wg.Wait()
	if y.f != nil {
		y.f.Close()
	}
}

// fsyncWAL fdatasyncs the WAL file. The file is opened once and again if
// SQLite replaced it (a new inode at the path); a newly opened WAL's
// directory is synced too, as SQLite does for a WAL it creates, so that
// the file itself survives a power cut.
func (y *walSyncer) fsyncWAL() error {
	fi, err := os.Stat(y.path)
	if err != nil {
		return err
	}
	if y.f != nil {
		if cur, err := y.f.Stat(); err != nil || !os.SameFile(cur, fi) {
			y.f.Close()
			y.f, y.dir = nil, false
		}
	}
	if y.f == nil {
		if y.f, err = os.Open(y.path); err != nil {
			return err
		}
	}
	if err := fdatasync(y.f); err != nil {
		return err
	}
	if !y.dir {
		if err := syncDir(filepath.Dir(y.path)); err != nil {
			return err
		}
		y.dir = true
	}
	return nil
}

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
