//go:build unix

package eve

import (
	"os"
	"syscall"
)

// identityOf returns the (device, inode) pair that survives a rename.
func identityOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)} //nolint:unconvert // Dev is int32 on darwin
	}
	return fileID{}
}
