//go:build linux

package syslog

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"
)

const msgTrunc = unix.MSG_TRUNC

// enableOverflowCount asks the kernel to report, with every datagram, how
// many datagrams it dropped on this socket for lack of buffer space
// (SO_RXQ_OVFL).
func enableOverflowCount(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err != nil {
		return false
	}
	return serr == nil
}

// overflowCount extracts the cumulative SO_RXQ_OVFL drop counter.
func overflowCount(oob []byte) (uint32, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL && len(m.Data) >= 4 {
			return binary.NativeEndian.Uint32(m.Data), true
		}
	}
	return 0, false
}
