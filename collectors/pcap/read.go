package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Capture formats.
const (
	FormatPCAP   = "pcap"
	FormatPCAPNG = "pcapng"
)

// Summarize reads a pcap or pcapng stream and returns its summary. It
// never fails: a capture that cannot be read to its end (bad magic,
// truncated or corrupt) yields what was read before the problem, with
// the problem in Error and Truncated set.
func Summarize(r io.Reader, o Options) (*Summary, string) {
	s := newSummary(o)
	br := bufio.NewReaderSize(r, 256<<10)
	format, err := readAll(br, s)
	if err != nil {
		s.Error = err.Error()
		s.Truncated = true
	}
	s.finish()
	return s, format
}

type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

func readAll(br *bufio.Reader, s *Summary) (string, error) {
	magic, err := br.Peek(4)
	if err != nil {
		return "", fmt.Errorf("reading capture header: %w", noEOF(err))
	}
	var (
		pr     packetReader
		format string
		linkOf func(ci gopacket.CaptureInfo) layers.LinkType
	)
	if binary.LittleEndian.Uint32(magic) == 0x0A0D0D0A {
		// Mixed link types: every interface's packets are read with that
		// interface's link type (none are skipped), and a section without
		// any interface is an empty capture, not a truncated one.
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{SkipUnknownVersion: true, WantMixedLinkType: true})
		if err != nil {
			return FormatPCAPNG, fmt.Errorf("reading pcapng header: %w", noEOF(err))
		}
		pr, format = ng, FormatPCAPNG
		linkOf = func(ci gopacket.CaptureInfo) layers.LinkType {
			if len(ci.AncillaryData) > 0 {
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					return lt
				}
			}
			iface, _ := ng.Interface(ci.InterfaceIndex)
			return iface.LinkType
		}
	} else {
		pc, err := pcapgo.NewReader(br)
		if err != nil {
			return FormatPCAP, fmt.Errorf("reading pcap header: %w", noEOF(err))
		}
		pr, format = pc, FormatPCAP
		lt := pc.LinkType()
		linkOf = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	}
	for {
		data, ci, err := pr.ZeroCopyReadPacketData() // data is reused: add copies what it keeps
		if err == io.EOF {
			return format, nil
		}
		if err != nil {
			return format, fmt.Errorf("reading packet %d: %w", s.Packets+1, noEOF(err))
		}
		s.add(data, ci, linkOf(ci))
	}
}

// noEOF turns an EOF inside a structure into ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("capture truncated: %w", io.ErrUnexpectedEOF)
	}
	return err
}
