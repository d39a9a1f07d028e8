package persistence

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

func TestReserveSizing(t *testing.T) {
	for _, tc := range []struct {
		volume, reserve, walPages int64
	}{
		{volume: 1 << 20, reserve: 256 << 10, walPages: 8},
		{volume: 4 << 20, reserve: 256 << 10, walPages: 8},
		{volume: 64 << 20, reserve: 4 << 20, walPages: 128},
		{volume: 512 << 20, reserve: 32 << 20, walPages: 1000},
		{volume: 1 << 40, reserve: 32 << 20, walPages: 1000},
	} {
		if got := reserveFor(tc.volume); got != tc.reserve {
			t.Errorf("reserveFor(%d) = %d, want %d", tc.volume, got, tc.reserve)
		}
		if got := walPagesFor(tc.reserve); got != tc.walPages {
			t.Errorf("walPagesFor(%d) = %d, want %d", tc.reserve, got, tc.walPages)
		}
	}
}

func volumeFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func bigWork(i int) collector.QueuedWork {
	w := work(i, collector.GroupTarget{Name: "g", Coverage: 100})
	w.Payload = []byte(`{"pad":"` + strings.Repeat("x", 2048) + `"}`)
	return w
}

// checkReserve fails unless the reserve file holds want bytes of real
// blocks (not a sparse file).
func checkReserve(t *testing.T, path string, want int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("reserve: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Size() != want || st.Blocks*512 < want {
		t.Fatalf("reserve %s: %d bytes in %d blocks, want %d bytes held", path, fi.Size(), st.Blocks, want)
	}
}

// On a 4 MiB volume: the reserve and the WAL bounds are in place; the
// write that finds the disk full releases the reserve, after which Enqueue
// refuses without taking space; delivery and cleanup then run, and the
// reserve comes back.
func TestReserveReleasedWhenFullAndRestoredByCleanup(t *testing.T) {
	mnt := collectortest.MountTmpfs(t, "4m")
	path := filepath.Join(mnt, "q.db")
	s := openAt(t, path)
	ctx := context.Background()
	checkReserve(t, path+".reserve", 256<<10)
	var limit, pages int64
	if err := s.db.Get(&limit, "PRAGMA journal_size_limit"); err != nil || limit != 8*4096 {
		t.Fatalf("journal_size_limit %d (%v), want %d", limit, err, 8*4096)
	}
	if err := s.db.Get(&pages, "PRAGMA wal_autocheckpoint"); err != nil || pages != 8 {
		t.Fatalf("wal_autocheckpoint %d (%v), want 8", pages, err)
	}

	n := 0
	var err error
	for ; n < 10000; n++ {
		if _, _, err = s.Enqueue(ctx, bigWork(n)); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) || !s.Full() {
		t.Fatalf("after %d submissions: Full %v, error %v; want a full disk", n, s.Full(), err)
	}
	if _, err := os.Stat(path + ".reserve"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reserve not released: %v", err)
	}
	free := volumeFree(t, mnt)
	for i := 0; i < 20; i++ {
		_, _, err := s.Enqueue(ctx, bigWork(100000+i))
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "refusing new submissions") {
			t.Fatalf("Enqueue while full: %v", err)
		}
	}
	if after := volumeFree(t, mnt); after < free {
		t.Fatalf("refused submissions took %d bytes", free-after)
	}
	t.Logf("full after %d submissions; %d KiB free with the reserve released", n, free>>10)

	for {
		items, err := s.Claim(ctx, "g", "o", 32)
		if err != nil {
			t.Fatalf("claim on the full disk: %v", err)
		}
		if len(items) == 0 {
			break
		}
		res := make([]Result, len(items))
		for i, it := range items {
			res[i] = Result{WorkID: it.WorkID, Outcome: Completed}
		}
		if err := s.Finish(ctx, "g", "o", res); err != nil {
			t.Fatalf("finish on the full disk: %v", err)
		}
	}
	for {
		done, err := s.Finished(ctx, 500)
		if err != nil {
			t.Fatalf("listing finished work on the full disk: %v", err)
		}
		if len(done) == 0 {
			break
		}
		ids := make([]int64, len(done))
		for i, f := range done {
			ids[i] = f.ID
		}
		if err := s.Delete(ctx, ids); err != nil {
			t.Fatalf("cleanup on the full disk: %v", err)
		}
	}
	if s.Full() {
		t.Fatalf("still full after cleanup, %d KiB free", volumeFree(t, mnt)>>10)
	}
	checkReserve(t, path+".reserve", 256<<10)
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Fatalf("WAL of %d bytes after cleanup on a full disk, want it truncated", fi.Size())
	}
	mustEnqueue(t, s, bigWork(200000))
	t.Logf("after cleanup: %d KiB free, database %d KiB", volumeFree(t, mnt)>>10, fileSize(path)>>10)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// A store that opens without room for its reserve starts full, and takes
// submissions as soon as an operator frees space, without a restart.
func TestStartsFullWithoutRoomForReserve(t *testing.T) {
	mnt := collectortest.MountTmpfs(t, "4m")
	path := filepath.Join(mnt, "q.db")
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, volumeFree(t, mnt)-300<<10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s := openAt(t, path)
	if !s.Full() {
		t.Fatalf("store with %d KiB free for a 256 KiB reserve does not start full", volumeFree(t, mnt)>>10)
	}
	if _, _, err := s.Enqueue(context.Background(), bigWork(1)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Enqueue on a store that started full: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s, bigWork(2))
	if s.Full() {
		t.Fatal("still full once space was freed")
	}
	checkReserve(t, path+".reserve", 256<<10)

	// Admin commands (Shared) keep no reserve of their own.
	other := filepath.Join(mnt, "admin.db")
	a, err := Open(context.Background(), Config{Path: other, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := os.Stat(other + ".reserve"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a shared (admin) store wrote a reserve: %v", err)
	}
}
