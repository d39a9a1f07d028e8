package collectortest

import (
	"os"
	"os/exec"
	"testing"
)

// MountTmpfs mounts a tmpfs of size (mount's syntax, e.g. "4m") on a fresh
// directory for the test and unmounts it at cleanup. It needs root:
// elsewhere the test is skipped, but under CI=true (where the suite runs
// as root) a failed mount fails the test, so that a disk-full test never
// passes by not running.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot mount a %s tmpfs (CI=true runs as root and needs it): %v %s", size, err, out)
		}
		t.Skipf("cannot mount a small tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}
