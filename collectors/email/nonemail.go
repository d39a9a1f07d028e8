package email

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/ace-collector/ace-collector/collector"
)

// What to do with a spool file that is not an email (non_email).
const (
	NonEmailSubmit = "submit" // submit it as a file, for analysis as one
	NonEmailReject = "reject" // move it to error_dir
)

// nonEmailDetails is the details JSON of a non-email file's submission:
// facts about the file, never its content.
type nonEmailDetails struct {
	SourceFile string `json:"source_file"`
	Size       int64  `json:"size"`
	MD5        string `json:"md5"`
	SHA256     string `json:"sha256"`
	NotEmail   string `json:"not_email"` // why it is not taken for an email
}

// nonEmail handles a spool file that is not an RFC 5322 message (Sniff
// said why): a mailbox scanner alert with its bytes parsed as headers
// helps no one, so it is submitted as a file, or moved aside.
func (c *Collector) nonEmail(ctx context.Context, env *collector.Env, f entry, file *os.File, info fs.FileInfo, reason string) (bool, error) {
	env.Count("non_email", 1)
	if c.cfg.NonEmail == NonEmailReject {
		dst, err := c.moveAside(f.path)
		if err != nil {
			env.Log.Error("spool file is not an email and could not be moved to error_dir; it stays in the spool",
				"file", f.path, "size", info.Size(), "reason", reason, "error", err)
			return false, nil
		}
		env.Drop("non_email", 1)
		env.Log.Warn("spool file is not an email; moved to error_dir (non_email = reject)",
			"file", f.path, "size", info.Size(), "reason", reason, "moved_to", dst)
		return true, nil
	}
	m5, s256 := md5.New(), sha256.New()
	if _, err := io.Copy(io.MultiWriter(m5, s256), io.NewSectionReader(file, 0, info.Size())); err != nil {
		c.logUnreadable(env, f.path, err)
		return false, nil
	}
	d := nonEmailDetails{SourceFile: f.path, Size: info.Size(), MD5: hex.EncodeToString(m5.Sum(nil)),
		SHA256: hex.EncodeToString(s256.Sum(nil)), NotEmail: reason}
	sub, err := c.fileSubmission(env.Global, f, info, d)
	if err != nil {
		return false, err
	}
	env.Log.Warn("spool file is not an email; submitting it as a file", "file", f.path, "size", info.Size(),
		"reason", reason, "analysis_mode", sub.AnalysisMode)
	return c.deliver(ctx, env, f, sub)
}

func (c *Collector) fileSubmission(g collector.Global, f entry, info fs.FileInfo, d nonEmailDetails) (*collector.Submission, error) {
	name, err := collector.SafeName(f.name)
	if err != nil {
		name = "spool-file"
	}
	sub := collector.NewSubmission("ACE Mailbox Scanner - non-email file " + truncate(name, 200))
	c.cfg.Fields.Apply(sub, g)
	sub.AnalysisMode = c.cfg.NonEmailMode
	sub.Tags = append(sub.Tags, "non_email")
	sub.EventTime = info.ModTime()
	var obs collector.ObservableSet
	obs.AddValue(collector.ObsFile, name)
	obs.AddValue(collector.ObsMD5, d.MD5)
	obs.AddValue(collector.ObsSHA256, d.SHA256)
	sub.Observables = obs.List()
	sub.Files = []collector.File{{Path: f.path, Name: name, DeleteSource: true}}
	if err := sub.SetDetails(d); err != nil {
		return nil, fmt.Errorf("details of %s: %w", f.path, err)
	}
	return sub, nil
}
