package persistence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Keeping a small disk usable (embedded store only).
//
// Cleanup frees space, but it has to write to do so: the delete is a
// transaction in the WAL, and only a checkpoint that copies the WAL into
// the database file (which may grow) lets the WAL shrink. On a full disk
// those writes fail and the store stays full for good. So the daemon keeps
// a reserve: <db>.reserve, a file of allocated blocks (1/16 of the volume,
// 256 KiB to 32 MiB) beside the database. The first write that
// finds the disk full deletes it, which gives the writes that free space
// (deliveries' outcomes, cleanup, checkpoints) room, and from then on new
// submissions are refused without writing anything, so they cannot eat that
// room. Once cleanup and checkpoints have freed enough, the reserve is
// written again and submissions are accepted.
//
// How much room those writes need is bounded by how large the WAL can
// grow between checkpoints, so the WAL is bounded by the reserve:
// wal_autocheckpoint is an eighth of it, journal_size_limit truncates the
// WAL back to that size after a checkpoint, and cleanup truncates the WAL
// completely (wal_checkpoint(TRUNCATE)) when it is larger, or while full.
// While full, a database file that is mostly free pages (everything was
// delivered and deleted) is vacuumed, since SQLite never gives free pages
// back to the volume by itself. Writes that find the disk full while the
// reserve is held release it and run once more (except Enqueue, which is
// refused). The reserve prevents getting stuck; it cannot rescue a volume
// that filled up before it existed (no reserve to release).

const (
	minReserve = 256 << 10
	maxReserve = 32 << 20
	// sqlitePageSize is SQLite's default page size, which our databases
	// use; it turns the WAL bound into wal_autocheckpoint's page count.
	sqlitePageSize = 4096
	// restoreEvery limits how often a refused submission triggers an
	// attempt to get the reserve back (a checkpoint and a statfs).
	restoreEvery = time.Second
)

// reserveFor sizes the reserve for a volume of total bytes: 1/16 of it,
// between 256 KiB and 32 MiB.
func reserveFor(total int64) int64 {
	return min(max(total/16, minReserve), maxReserve)
}

// walPagesFor is the wal_autocheckpoint page count for a reserve: the WAL
// holds at most an eighth of the reserve between checkpoints (8 pages at
// least), and never more than SQLite's default of 1000 pages, which a
// volume of 512 MiB or more gets.
func walPagesFor(reserve int64) int64 {
	return min(max(reserve/8/sqlitePageSize, 8), 1000)
}

// spaceKeeper holds the reserve of one embedded store.
type spaceKeeper struct {
	path    string // the reserve file, <db>.reserve
	wal     string // the database's WAL, <db>-wal
	size    int64
	walMax  int64 // bytes: the WAL is truncated after cleanup beyond this
	log     *slog.Logger
	full    atomic.Bool
	mu      sync.Mutex // serialises release and restore
	cause   error      // the error that released the reserve (under mu)
	lastTry time.Time  // last restore attempt (under mu)
}

// newSpaceKeeper sizes the reserve for the volume holding dbPath.
func newSpaceKeeper(dbPath string, log *slog.Logger) (*spaceKeeper, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(dbPath), &st); err != nil {
		return nil, fmt.Errorf("persistence: statfs %s: %w", filepath.Dir(dbPath), err)
	}
	size := reserveFor(int64(st.Blocks) * st.Bsize)
	return &spaceKeeper{
		path: dbPath + ".reserve", wal: dbPath + "-wal", size: size,
		walMax: walPagesFor(size) * sqlitePageSize, log: log,
	}, nil
}

// pragmas are the connection settings that bound the WAL by the reserve.
func (k *spaceKeeper) pragmas() []string {
	return []string{
		fmt.Sprintf("wal_autocheckpoint(%d)", k.walMax/sqlitePageSize),
		fmt.Sprintf("journal_size_limit(%d)", k.walMax),
	}
}

// free returns the bytes available to us on the reserve's volume.
func (k *spaceKeeper) free() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(k.path), &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", filepath.Dir(k.path), err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// startSpace makes sure the reserve exists at open. A store that cannot write
// it starts full: it refuses submissions until cleanup frees space.
func (s *Store) startSpace(ctx context.Context) {
	k := s.space
	k.mu.Lock()
	defer k.mu.Unlock()
	if fi, err := os.Stat(k.path); err == nil && fi.Size() >= k.size {
		return
	}
	if err := k.restoreLocked(s.dbFree(ctx)); err != nil {
		k.full.Store(true)
		k.cause = err
		k.log.Error("store full at start: no room for the space reserve; new submissions are refused until cleanup frees space",
			"reserve", k.path, "size", k.size, "error", err)
	}
}

// restoreLocked writes the reserve if the volume has room for it and for
// twice the WAL between two checkpoints, and if, counting dbFree (the bytes of
// the database's free pages, which new submissions fill before the file
// grows), half a reserve more is left: so that the next submissions do
// not take the reserve away at once.
func (k *spaceKeeper) restoreLocked(dbFree int64) error {
	have := int64(0)
	if fi, err := os.Stat(k.path); err == nil {
		have = fi.Size()
	}
	if have >= k.size {
		return nil
	}
	free, err := k.free()
	if err != nil {
		return err
	}
	if free < k.size-have+2*k.walMax || free+dbFree < k.size-have+k.size/2 {
		return fmt.Errorf("%d bytes free on the volume and %d in the database: too little to write the %d-byte reserve: %w",
			free, dbFree, k.size, syscall.ENOSPC)
	}
	f, err := os.OpenFile(k.path, os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("creating %s: %w", k.path, err)
	}
	err = allocate(f, have, k.size-have)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(k.path)
		return fmt.Errorf("writing %s: %w", k.path, err)
	}
	return nil
}

// allocate gives f n more bytes from off, really held by the filesystem
// (not sparse): fallocate where the filesystem has it, zeros written
// where it does not.
func allocate(f *os.File, off, n int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, off, n)
	if !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.ENOSYS) {
		return err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	zeros := make([]byte, 64<<10)
	for done := int64(0); done < n; done += int64(len(zeros)) {
		if _, err := f.Write(zeros[:min(int64(len(zeros)), n-done)]); err != nil {
			return err
		}
	}
	return nil
}

// release gives the reserve back to the volume after cause, a write that
// found the disk full, and refuses submissions from now on. It reports
// whether this call released it (false: it already was).
func (k *spaceKeeper) release(cause error) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.full.Load() {
		return false
	}
	k.full.Store(true)
	k.cause = cause
	k.lastTry = time.Time{}
	err := os.Remove(k.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		k.log.Error("disk full: releasing the space reserve failed", "reserve", k.path, "error", err)
	}
	k.log.Error("disk full: released the space reserve so that delivery and cleanup can free space; new submissions are refused until then",
		"reserve", k.path, "size", k.size, "error", cause)
	return true
}

// refusal is the error Enqueue returns while the reserve is released.
func (k *spaceKeeper) refusal() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return &fullError{fmt.Errorf("persistence: disk full: refusing new submissions until cleanup frees space and the %d-byte reserve %s can be written again (%v)",
		k.size, k.path, k.cause)}
}

// Full reports whether the embedded store's disk is full: its space
// reserve is released and Enqueue refuses new submissions (with an error
// wrapping syscall.ENOSPC) until cleanup has freed space. Sources can ask
// before doing work that a refusal would waste, such as staging files.
func (s *Store) Full() bool { return s.space != nil && s.space.full.Load() }

// noteFull marks err as a full disk when it is one and, on the embedded
// store, releases the reserve. Every write path passes its error here.
func (s *Store) noteFull(err error) error {
	if err == nil {
		return nil
	}
	err = diskFull(err)
	if s.space != nil && errors.Is(err, syscall.ENOSPC) {
		s.space.release(err)
	}
	return err
}

// releaseReserve releases the reserve if err is a full disk and the
// reserve was still held, and reports whether it did: the write that
// failed (delivery state, cleanup, keys; not Enqueue) can then be run
// again at once, into the room just freed, instead of failing once.
func (s *Store) releaseReserve(err error) bool {
	if err == nil || s.space == nil || s.space.full.Load() || !errors.Is(diskFull(err), syscall.ENOSPC) {
		return false
	}
	return s.space.release(diskFull(err))
}

// dbFree returns the bytes of the database's free pages (0 if unknown).
func (s *Store) dbFree(ctx context.Context) int64 {
	var pages, size int64
	if err := s.db.GetContext(ctx, &pages, "PRAGMA freelist_count"); err != nil {
		return 0
	}
	if err := s.db.GetContext(ctx, &size, "PRAGMA page_size"); err != nil {
		return 0
	}
	return pages * size
}

// checkpoint copies the WAL into the database and truncates it to zero
// bytes. busy means a reader (an admin command) kept it from completing;
// the next one will.
func (s *Store) checkpoint(ctx context.Context) (busy bool, err error) {
	var b, logPages, done int
	if err := s.db.QueryRowxContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&b, &logPages, &done); err != nil {
		return false, fmt.Errorf("persistence: checkpointing the WAL: %w", diskFull(err))
	}
	return b != 0, nil
}

// afterDelete runs after cleanup deleted submissions: a WAL grown past its
// bound is truncated, and a full store tries to get its reserve back.
func (s *Store) afterDelete(ctx context.Context) {
	if s.space == nil {
		return
	}
	if s.space.full.Load() {
		s.tryRestore(ctx, true)
		return
	}
	if fi, err := os.Stat(s.space.wal); err == nil && fi.Size() > s.space.walMax {
		if _, err := s.checkpoint(ctx); err != nil {
			s.log.Warn("checkpoint after cleanup failed", "error", err)
		}
	}
}

// tryRestore, while full, truncates the WAL and writes the reserve again
// if there is room; it reports whether the store accepts submissions. The
// room is checked every time (a statfs), so that space freed by an
// operator is used at once; the checkpoint runs at most once per
// restoreEvery unless now.
func (s *Store) tryRestore(ctx context.Context, now bool) bool {
	k := s.space
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.full.Load() {
		return true
	}
	if now || time.Since(k.lastTry) >= restoreEvery {
		k.lastTry = time.Now()
		busy, err := s.checkpoint(ctx)
		if err != nil || busy {
			k.log.Debug("checkpoint while the disk is full did not complete", "busy", busy, "error", err)
		}
		s.shrinkLocked(ctx)
	}
	if err := k.restoreLocked(s.dbFree(ctx)); err != nil {
		k.log.Debug("space reserve not restored yet", "reserve", k.path, "error", err)
		return false
	}
	k.full.Store(false)
	k.cause = nil
	free, _ := k.free()
	k.log.Warn("disk space is back: space reserve written again; accepting submissions",
		"reserve", k.path, "size", k.size, "free_bytes", free)
	return true
}

// shrinkLocked gives the database file's free pages back to the volume
// when they are most of what holds it full. Deleted rows leave free pages
// that SQLite reuses but never returns, so on a small volume the file can
// keep the space the WAL and the reserve need, with everything delivered.
// VACUUM rewrites the live pages through the WAL and the checkpoint then
// truncates the file, so it runs only when the free pages are worth a
// reserve and the live pages fit, with room to spare, in what is free.
func (s *Store) shrinkLocked(ctx context.Context) {
	k := s.space
	var pages, freePages, pageSize int64
	if s.db.GetContext(ctx, &pages, "PRAGMA page_count") != nil ||
		s.db.GetContext(ctx, &freePages, "PRAGMA freelist_count") != nil ||
		s.db.GetContext(ctx, &pageSize, "PRAGMA page_size") != nil {
		return
	}
	free, err := k.free()
	live := (pages - freePages) * pageSize
	if err != nil || freePages*pageSize < k.size || 2*live+k.walMax > free {
		return
	}
	if _, err := s.db.ExecContext(ctx, "VACUUM"); err != nil {
		k.log.Warn("disk full: VACUUM to give the database's free pages back failed", "error", err)
		return
	}
	if _, err := s.checkpoint(ctx); err != nil {
		k.log.Warn("disk full: checkpoint after VACUUM failed", "error", err)
		return
	}
	k.log.Warn("disk full: vacuumed the database to give its free pages back to the volume",
		"freed_bytes", freePages*pageSize, "live_bytes", live)
}

// closeSpace truncates the WAL before the database is closed, so that a
// restart does not begin with a large WAL to replay and copy.
func (s *Store) closeSpace() {
	if s.space == nil {
		return
	}
	if _, err := s.checkpoint(context.Background()); err != nil {
		s.log.Warn("checkpoint at close failed", "error", err)
	}
}
