//go:build !linux

package syslog

import "net"

const msgTrunc = 0

// enableOverflowCount: kernel drop counts are only read on Linux.
func enableOverflowCount(*net.UDPConn) bool { return false }

func overflowCount([]byte) (uint32, bool) { return 0, false }
