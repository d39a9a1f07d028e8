package estreamer

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// writePCAP writes the packets as a classic little-endian pcap file in
// dir and returns its path. The link type is the first packet's (the
// eStreamer packet record carries it; Ethernet = 1 in practice).
func writePCAP(dir string, pkts []*wire.Packet) (path string, err error) {
	if len(pkts) == 0 {
		return "", fmt.Errorf("no packets")
	}
	f, err := os.CreateTemp(dir, "estreamer-*.pcap")
	if err != nil {
		return "", fmt.Errorf("creating pcap file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriter(f)
	snap := uint32(65535)
	for _, p := range pkts {
		snap = max(snap, uint32(len(p.Data)))
	}
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], snap)
	binary.LittleEndian.PutUint32(hdr[20:], pkts[0].LinkType)
	w.Write(hdr[:])
	for _, p := range pkts {
		var rh [16]byte
		binary.LittleEndian.PutUint32(rh[0:], p.PacketSecond)
		binary.LittleEndian.PutUint32(rh[4:], p.PacketMicrosecond)
		binary.LittleEndian.PutUint32(rh[8:], uint32(len(p.Data)))
		binary.LittleEndian.PutUint32(rh[12:], uint32(len(p.Data)))
		w.Write(rh[:])
		w.Write(p.Data)
	}
	if err := w.Flush(); err != nil {
		return "", fmt.Errorf("writing pcap file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("closing pcap file: %w", err)
	}
	return f.Name(), nil
}
