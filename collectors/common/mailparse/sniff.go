package mailparse

import (
	"bytes"
	"strings"
)

// SniffSize is how much of the start of a file Sniff needs.
const SniffSize = 64 << 10

// messageFields are header fields that only mail has; one of them must
// appear for input to count as a message.
var messageFields = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "date": true,
	"message-id": true, "received": true, "return-path": true, "mime-version": true,
	"content-type": true, "sender": true, "reply-to": true, "delivered-to": true,
	"in-reply-to": true, "references": true, "dkim-signature": true,
	"authentication-results": true, "x-original-to": true, "envelope-to": true,
	"resent-from": true, "x-mailer": true, "arc-seal": true, "x-ms-exchange-organization-authas": true,
}

// Sniff reports whether prefix (the first SniffSize bytes of a file, or
// all of it) starts like an RFC 5322 message: an optional mbox "From "
// line, then header fields up to an empty line (or the end of prefix),
// at least one of them a field only mail has, and no NUL bytes. When it
// does not, reason says why in a few words (never quoting the input).
func Sniff(prefix []byte) (ok bool, reason string) {
	if len(bytes.TrimSpace(prefix)) == 0 {
		return false, "empty"
	}
	hdr := prefix
	if i := headerEnd(prefix); i >= 0 {
		hdr = prefix[:i]
	}
	if bytes.IndexByte(hdr, 0) >= 0 {
		return false, "binary data (NUL bytes) where the header should be"
	}
	lines := bytes.Split(hdr, []byte("\n"))
	if bytes.HasPrefix(lines[0], []byte("From ")) {
		lines = lines[1:]
	}
	known := false
	for i, line := range lines {
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if i == 0 {
				return false, "does not start with a header field"
			}
			continue
		}
		name, _, ok := fieldLine(line)
		if !ok {
			if i == 0 {
				return false, "does not start with a header field"
			}
			break // the header ends here (the parser reads the rest as body)
		}
		known = known || messageFields[strings.ToLower(name)]
	}
	if !known {
		return false, "no mail header field (From, To, Subject, Date, Message-ID, Received, ...)"
	}
	return true, ""
}

// headerEnd is the offset of the empty line ending the header, or -1.
func headerEnd(b []byte) int {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		if len(bytes.TrimRight(b[i:i+j], "\r")) == 0 {
			return i
		}
		i += j + 1
	}
	return -1
}
