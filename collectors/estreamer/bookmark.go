package estreamer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// bookmarkKey is the persistence key of the resume position.
const bookmarkKey = "bookmark"

// bookmark is the resume position: the archive timestamp to send as the
// initial timestamp (inclusive: the server re-sends that second), and
// the identities of events already submitted in that second or later, so
// the re-sent ones are recognised and dropped. The identities are kept as
// seenID digests: the bookmark is rewritten after every bundle, and a busy
// second holds thousands of events.
type bookmark struct {
	TS   uint32              `json:"archive_timestamp"`
	Seen map[string][]string `json:"seen,omitempty"` // second -> seenIDs
}

// seenID is a 96-bit digest of an event identity (base64, 16 bytes); a
// collision within one second is not a practical concern.
func seenID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawStdEncoding.EncodeToString(sum[:12])
}

// errCorruptBookmark marks a stored bookmark that cannot be decoded.
var errCorruptBookmark = errors.New("corrupt bookmark")

// tracker keeps the bookmark and the dedup sets in memory and writes them
// to env.State; it is owned by one session goroutine at a time.
type tracker struct {
	ts    uint32
	valid bool
	seen  map[uint32]map[string]bool
	dirty bool
}

func loadTracker(ctx context.Context, get func(context.Context, string) ([]byte, bool, error)) (*tracker, error) {
	t := &tracker{seen: map[uint32]map[string]bool{}}
	v, ok, err := get(ctx, bookmarkKey)
	if err != nil {
		return nil, fmt.Errorf("reading bookmark: %w", err)
	}
	if !ok {
		return t, nil
	}
	var b bookmark
	if err := json.Unmarshal(v, &b); err != nil {
		return nil, fmt.Errorf("%w: %q is not valid JSON: %w", errCorruptBookmark, v, err)
	}
	t.ts, t.valid = b.TS, true
	for sec, keys := range b.Seen {
		n, err := strconv.ParseUint(sec, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: second %q: %w", errCorruptBookmark, sec, err)
		}
		m := map[string]bool{}
		for _, k := range keys {
			m[k] = true
		}
		t.seen[uint32(n)] = m
	}
	return t, nil
}

// isDuplicate reports whether an event was already submitted.
func (t *tracker) isDuplicate(ts uint32, key string) bool {
	m := t.seen[ts]
	return m != nil && m[seenID(key)]
}

// submitted records an event whose Submit returned nil. An event before
// the bookmark second is not remembered: a resumed stream starts at that
// second, so it will not come again.
func (t *tracker) submitted(ts uint32, key string) {
	if t.valid && ts < t.ts {
		return
	}
	key = seenID(key)
	m := t.seen[ts]
	if m == nil {
		m = map[string]bool{}
		t.seen[ts] = m
	}
	m[key] = true
	t.dirty = true
}

// advance moves the bookmark to ts (never backwards) and forgets the
// identities of earlier seconds, which the server will not re-send.
func (t *tracker) advance(ts uint32) {
	if ts == 0 || (t.valid && ts <= t.ts) {
		return
	}
	t.ts, t.valid, t.dirty = ts, true, true
	for sec := range t.seen {
		if sec < ts {
			delete(t.seen, sec)
		}
	}
}

func (t *tracker) encode() []byte {
	b := bookmark{TS: t.ts, Seen: map[string][]string{}}
	for sec, m := range t.seen {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.Seen[strconv.FormatUint(uint64(sec), 10)] = keys
	}
	v, _ := json.Marshal(b)
	return v
}
