package smtp

import "golang.org/x/sys/unix"

// ramBacked reports whether dir is on tmpfs or ramfs, where spooled
// messages take memory and cannot be hard-linked into the store.
func ramBacked(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
}
