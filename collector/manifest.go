package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
)

// Names the runtime creates in incoming_dir. Nothing else there is ever
// removed or moved (see orphans.go).
const (
	// ManifestName is the file in incoming_dir/<uuid>/ that describes the
	// submission, so its record can be rebuilt if the store loses it.
	// Staging reserves it: an attachment can never be staged under it.
	ManifestName = ".ace-submission.json"
	// StagingPrefix + uuid is where a submission's files are staged; the
	// directory is renamed to <uuid> only once complete, before the commit.
	StagingPrefix = ".ace-staging-"
	// SetAsideName is where submission directories that can be neither
	// delivered nor proved garbage are moved, for the operator.
	SetAsideName = ".ace-set-aside"
)

const manifestVersion = 1

// Manifest travels with a submission's staged files: the submission JSON
// and everything Enqueue was given, written and fsync'd before the commit.
type Manifest struct {
	Version     int           `json:"version"`
	UUID        string        `json:"uuid"`
	Collector   string        `json:"collector"` // QueuedWork.Type
	Mode        string        `json:"mode"`
	Groups      []GroupTarget `json:"groups"`
	DedupSource string        `json:"dedup_source,omitempty"`
	DedupKey    string        `json:"dedup_key,omitempty"`
	// StoreID is the store the submission was enqueued in (empty when the
	// queue cannot say).
	StoreID  string          `json:"store_id,omitempty"`
	StagedAt time.Time       `json:"staged_at"`
	Payload  json.RawMessage `json:"submission"`
}

// IsSubmissionDirName reports whether name is a submission uuid in the
// 36-character form the runtime names staging directories with.
func IsSubmissionDirName(name string) bool {
	if len(name) != 36 {
		return false
	}
	_, err := uuid.Parse(name)
	return err == nil
}

func newManifest(w *QueuedWork, storeID string, now time.Time) *Manifest {
	return &Manifest{
		Version: manifestVersion, UUID: w.UUID, Collector: w.Type, Mode: w.Mode,
		Groups: w.Groups, DedupSource: w.DedupSource, DedupKey: w.DedupKey,
		StoreID: storeID, StagedAt: now.UTC(), Payload: w.Payload,
	}
}

// writeManifest writes m into dir durably (the directory entry is synced
// by the caller, with the rest of the staging directory).
func writeManifest(dir string, m *Manifest) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%w: submission %s: encoding its manifest: %w", ErrInvalid, m.UUID, err)
	}
	p := filepath.Join(dir, ManifestName)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// ReadManifest reads and checks the manifest of the submission directory
// dir (incoming_dir/<uuid>). A missing manifest is an error wrapping
// fs.ErrNotExist.
func ReadManifest(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", p, err)
	}
	if err := m.check(filepath.Base(dir)); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", p, err)
	}
	return &m, nil
}

func (m *Manifest) check(dirName string) error {
	if m.Version != manifestVersion {
		return fmt.Errorf("version %d, want %d", m.Version, manifestVersion)
	}
	if m.UUID != dirName {
		return fmt.Errorf("uuid %q does not name its directory %q", m.UUID, dirName)
	}
	if m.Collector == "" || m.Mode == "" {
		return errors.New("collector or mode missing")
	}
	var sub struct {
		UUID  string `json:"uuid"`
		Files []File `json:"files"`
	}
	if err := json.Unmarshal(m.Payload, &sub); err != nil {
		return fmt.Errorf("submission: %w", err)
	}
	if sub.UUID != m.UUID {
		return fmt.Errorf("submission uuid %q differs from the manifest's %q", sub.UUID, m.UUID)
	}
	if len(sub.Files) == 0 {
		return errors.New("submission lists no files")
	}
	return nil
}

// work rebuilds what Enqueue was given, for the enabled groups: the
// manifest's groups that are still enabled (with today's coverage), or
// every enabled group when none of them is (as for an unknown
// group_assignment).
func (m *Manifest) work(enabled []GroupTarget) (w QueuedWork, fellBack bool) {
	w = QueuedWork{
		UUID: m.UUID, Type: m.Collector, Mode: m.Mode, Payload: m.Payload, HasFiles: true,
		DedupSource: m.DedupSource, DedupKey: m.DedupKey,
	}
	want := map[string]bool{}
	for _, g := range m.Groups {
		want[g.Name] = true
	}
	for _, g := range enabled {
		if want[g.Name] {
			w.Groups = append(w.Groups, g)
		}
	}
	if len(w.Groups) == 0 {
		w.Groups, fellBack = enabled, true
	}
	return w, fellBack
}
