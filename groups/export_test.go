package groups

// Internals the external tests (package groups_test) need.
var (
	// BlockedLogEvery bounds how often a persisting blocked reason is logged.
	BlockedLogEvery = blockedLogEvery
	// ACENodesDB creates ACE's node tables in a fresh MySQL database.
	ACENodesDB = aceNodesDB
)
