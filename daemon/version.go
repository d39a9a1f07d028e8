package daemon

import "runtime/debug"

// Version is the module version (or override, when set at build time)
// and the VCS revision the binary was built from, as Go records them in
// the build info.
func Version(override string) string {
	v, rev, modified := override, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified {
			rev += ", modified"
		}
		v += " (" + rev + ")"
	}
	return v
}
