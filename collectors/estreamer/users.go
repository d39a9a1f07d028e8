package estreamer

import (
	"strconv"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
)

// defaultIgnoreUsers are the FMC's placeholder users. An FMC fills the
// user of every event that has no real user with one of its "special
// identities", so as `user` observables they would link every unrelated
// alert that shares the placeholder:
//
//   - 9999997 "No Authentication Required": a real FMC sends it as user
//     metadata (record 98, block 57, id 0x0098967d) and puts it on every
//     connection event matched by a no-authentication identity rule
//     (the 2020 FMC capture in eNcore's hackathon2020 branch,
//     estreamer.log bundle 1; reference §6.4);
//   - "Unknown", "Failed Authentication", "Guest": the other special
//     identities of an FMC's identity/access control user conditions
//     (FMC configuration guide, user conditions, "Special Identities").
//     Their ids are not documented anywhere we could read, so they are
//     matched by name, through the user metadata the FMC sends.
//
// ignore_users replaces the list; ids and names may be mixed.
var defaultIgnoreUsers = []string{"9999997", "No Authentication Required", "Unknown", "Failed Authentication", "Guest"}

// userFilter says which users are placeholders, not people.
type userFilter struct {
	ids   map[uint32]bool
	names map[string]bool // lower case
}

func parseUserFilter(sec *collector.Section) userFilter {
	items := defaultIgnoreUsers
	if sec.Has("ignore_users") {
		items = sec.List("ignore_users")
	} else {
		sec.Ignore("ignore_users")
	}
	f := userFilter{ids: map[uint32]bool{}, names: map[string]bool{}}
	for _, it := range items {
		if n, err := strconv.ParseUint(it, 10, 32); err == nil {
			f.ids[uint32(n)] = true
		} else {
			f.names[strings.ToLower(strings.TrimSpace(it))] = true
		}
	}
	return f
}

// ignored reports whether the user (by id, name or both; 0 and "" mean
// unknown) is a placeholder. Names are compared without case and without
// a trailing NUL or spaces.
func (f userFilter) ignored(id uint32, name string) bool {
	if id != 0 && f.ids[id] {
		return true
	}
	name = strings.ToLower(strings.TrimSpace(strings.TrimRight(name, "\x00")))
	return name != "" && f.names[name]
}
