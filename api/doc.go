// Package api speaks ACE's HTTP submission API.
//
// Client (NewClient, Submit, Ping) delivers collector submissions to ACE
// nodes exactly as ACE's own ace_api.py does on the wire: POST
// https://<location>/api/analysis/submit with the submission JSON in form
// field "analysis" (url-encoded without files, multipart/form-data with one
// "file" part per attachment, streamed from disk with an exact
// Content-Length), plus the collector's submission uuid (JSON key
// submission_uuid and header X-ACE-Submission-UUID) so receivers can drop
// duplicates. It is built on go-retryablehttp with a pooled TLS 1.2+
// transport; TLS verification is on unless explicitly disabled. Transient
// classifies failures for the delivery loop.
//
// Server (NewServer, Handler) is an ACE-compatible receiver: it accepts
// what ACE's /api/analysis/submit accepts (multipart, url-encoded or query
// string; ACE's time formats, defaults and 400 texts), but sanitises file
// names, never overwrites a duplicate, and stores atomically:
//
//	Dir/<uuid>/analysis.json        the Received, as JSON
//	Dir/<uuid>/files/<name>         the attachments
//	Dir/received.jsonl              one fsync'd line per accepted submission
//
// A submission is received into Dir/.incoming-<uuid>/, fsync'd and renamed
// into place, so a reader never sees half of one; NewServer removes
// staging dirs a crash left behind. A body that arrives slower than
// ServerOptions allow is cut off (408), one larger than the limit refused
// (413). ServeSink wraps the server in an HTTP(S) listener for
// `ace-collector sink`, with header, body and idle timeouts and a
// connection limit; without a given certificate it keeps a CA in its
// directory (reused across restarts) and issues a server certificate from
// it at each start.
//
// ParseLocation is the one reading of a node location (config validation
// and the client both use it); Redact and RedactError remove URL
// credentials from anything printed.
package api
