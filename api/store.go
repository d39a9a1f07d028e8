package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/google/uuid"
)

// staging is one submission being received: a temp dir inside the storage
// root that is renamed to <root>/<uuid> only when everything is on disk.
type staging struct {
	root  string
	uuid  string
	tmp   string
	files []ReceivedFile      // Path is inside tmp until commit
	used  map[string]struct{} // stored file names
	dirs  map[string]struct{} // directories implied by stored names
	sync  bool                // fsync what is written (not with NoSync)
}

func newStaging(root string, sync bool) (*staging, error) {
	id := uuid.NewString()
	tmp := filepath.Join(root, tmpPrefix+id)
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return nil, fmt.Errorf("creating staging dir: %w", err)
	}
	return &staging{root: root, uuid: id, tmp: tmp, sync: sync,
		used: map[string]struct{}{}, dirs: map[string]struct{}{}}, nil
}

func (st *staging) discard(log *slog.Logger) {
	if err := os.RemoveAll(st.tmp); err != nil {
		log.Error("removing partial submission", "dir", st.tmp, "error", err)
	}
}

// addFile stores one uploaded file under its sanitized, de-duplicated name,
// streaming it to disk while hashing it.
func (st *staging) addFile(rawName string, src io.Reader) *httpError {
	name, err := collector.SafeName(rawName)
	if err != nil {
		return badRequest("invalid file name: %v", err)
	}
	for _, c := range strings.Split(name, "/") {
		if len(c) > 255 {
			return badRequest("invalid file name %q: a path component is longer than 255 bytes", truncate(name, 64))
		}
	}
	name, err = st.unique(name)
	if err != nil {
		return badRequest("invalid file name %q: %v", truncate(name, 64), err)
	}
	filesDir := filepath.Join(st.tmp, "files")
	dst := filepath.Join(filesDir, filepath.FromSlash(name))
	if rel, err := filepath.Rel(filesDir, dst); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		// Unreachable after SafeName; kept as a last line of defence.
		return badRequest("invalid file name %q", name)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return storeError(err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return storeError(err)
	}
	defer f.Close()
	h := sha256.New()
	rd := &trackingReader{r: src}
	n, err := io.Copy(io.MultiWriter(f, h), rd)
	if err != nil {
		if rd.err != nil {
			return bodyError(fmt.Sprintf("reading file %q", name), rd.err)
		}
		return storeError(err)
	}
	if st.sync {
		if err := f.Sync(); err != nil {
			return storeError(err)
		}
	}
	st.files = append(st.files, ReceivedFile{Name: name, Path: dst, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

func storeError(err error) *httpError {
	return &httpError{code: http.StatusInternalServerError, msg: "unable to store file - review the logs",
		cause: fmt.Errorf("storing uploaded file: %w", err)}
}

// trackingReader remembers a read error so a client-side failure (aborted
// upload, body too large) is told apart from a disk failure.
type trackingReader struct {
	r   io.Reader
	err error
}

func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// unique returns name, or a variant of it, that neither collides with a
// stored file nor needs a directory where a file is (or vice versa). ACE
// silently overwrote duplicates (§1.5); here "a.txt" twice becomes "a.txt"
// and "a-1.txt".
func (st *staging) unique(name string) (string, error) {
	base := name
	if st.prefixConflict(name) {
		base = strings.ReplaceAll(name, "/", "_")
	}
	if !st.conflict(base) {
		st.reserve(base)
		return base, nil
	}
	dir, file := path.Split(base)
	ext := path.Ext(file)
	stem := strings.TrimSuffix(file, ext)
	if stem == "" { // ".bashrc"
		stem, ext = file, ""
	}
	for i := 1; i <= 100000; i++ {
		cand := fmt.Sprintf("%s%s-%d%s", dir, stem, i, ext)
		if !st.conflict(cand) {
			st.reserve(cand)
			return cand, nil
		}
	}
	return "", errors.New("too many files with the same name")
}

func (st *staging) conflict(name string) bool {
	_, f := st.used[name]
	_, d := st.dirs[name]
	return f || d || st.prefixConflict(name)
}

// prefixConflict reports whether a parent directory of name is a file.
func (st *staging) prefixConflict(name string) bool {
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		if _, ok := st.used[d]; ok {
			return true
		}
	}
	return false
}

func (st *staging) reserve(name string) {
	st.used[name] = struct{}{}
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		st.dirs[d] = struct{}{}
	}
}

// commit makes the submission durable and visible: analysis.json and every
// directory are fsync'd, the staging dir is renamed to <root>/<uuid>, the
// root is fsync'd, and a line is appended (and fsync'd) to the journal.
func (s *Server) commit(ctx context.Context, st *staging, rec *Received) error {
	final := filepath.Join(st.root, st.uuid)
	rec.Files = make([]ReceivedFile, len(st.files))
	for i, f := range st.files {
		f.Path = filepath.Join(final, "files", filepath.FromSlash(f.Name))
		rec.Files[i] = f
	}
	doc, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding analysis.json: %w", err)
	}
	if err := writeFileSync(filepath.Join(st.tmp, "analysis.json"), doc, st.sync); err != nil {
		return err
	}
	if st.sync {
		if err := filepath.WalkDir(st.tmp, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return syncDir(p)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("syncing %s: %w", st.tmp, err)
		}
	}
	if err := os.Rename(st.tmp, final); err != nil {
		return fmt.Errorf("moving submission into place: %w", err)
	}
	st.tmp = final // a later failure discards the final dir
	if st.sync {
		if err := syncDir(st.root); err != nil {
			return err
		}
	}
	if s.opts.Accept != nil {
		if err := s.opts.Accept(ctx, rec); err != nil {
			return acceptError(err)
		}
	}
	if s.opts.Relay {
		if err := os.RemoveAll(final); err != nil {
			s.log.Warn("removing a relayed submission's staging directory", "dir", final, "error", err)
		}
		return nil
	}
	return s.appendJournal(rec)
}

// AcceptStatus is the answer to a failure to take a submission: 400 when
// the submission is invalid, otherwise 503 with a Retry-After in seconds
// (longer when the store is full), so the client keeps it and retries.
func AcceptStatus(err error) (code, retryAfter int, msg string) {
	switch {
	case errors.Is(err, collector.ErrInvalid):
		return http.StatusBadRequest, 0, truncate(err.Error(), 1000)
	case errors.Is(err, syscall.ENOSPC):
		return http.StatusServiceUnavailable, 60, "the receiver's store is full, retry later"
	}
	return http.StatusServiceUnavailable, 5, "the receiver cannot take this submission now, retry later"
}

func acceptError(err error) error {
	code, after, msg := AcceptStatus(err)
	return &httpError{code: code, msg: msg, cause: err, retryAfter: after}
}

type journalFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type journalLine struct {
	UUID           string        `json:"uuid"`
	SubmissionUUID string        `json:"submission_uuid,omitempty"`
	Description    string        `json:"description"`
	ReceivedAt     string        `json:"received_at"`
	Files          []journalFile `json:"files"`
}

func (s *Server) appendJournal(rec *Received) error {
	line := journalLine{UUID: rec.UUID, SubmissionUUID: rec.SubmissionUUID, Description: rec.Description,
		ReceivedAt: FormatEventTime(rec.ReceivedAt), Files: []journalFile{}}
	for _, f := range rec.Files {
		line.Files = append(line.Files, journalFile{Name: f.Name, Size: f.Size, SHA256: f.SHA256})
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("encoding journal line: %w", err)
	}
	b = append(b, '\n')
	return s.journal.Append(b)
}

func writeFileSync(p string, data []byte, sync bool) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("syncing %s: %w", p, err)
		}
	}
	return f.Close()
}

func syncDir(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("opening dir %s for sync: %w", p, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing dir %s: %w", p, err)
	}
	return nil
}
