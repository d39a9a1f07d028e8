package mailparse

import (
	"bufio"
	"io"
	"sync"
)

// Buffers are pooled: most messages are small, and allocating (and
// zeroing) the fixed-size buffers of every level afresh for each message
// would cost more than parsing it.
var readerPools = map[int]*sync.Pool{
	topBuf:  {New: func() any { return bufio.NewReaderSize(nil, topBuf) }},
	partBuf: {New: func() any { return bufio.NewReaderSize(nil, partBuf) }},
	lineBuf: {New: func() any { return bufio.NewReaderSize(nil, lineBuf) }},
}

// getReader returns a pooled reader of size (topBuf, partBuf or lineBuf)
// reading src; give it back with putReader once nothing reads it.
func getReader(src io.Reader, size int) *bufio.Reader {
	br := readerPools[size].Get().(*bufio.Reader)
	br.Reset(src)
	return br
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	if p := readerPools[br.Size()]; p != nil {
		p.Put(br)
	}
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, urlChunk); return &b }}
