package pcap

import "strings"

// ParseSNI returns the server name of a TLS ClientHello that starts p (a
// TLS record), or false. Every length is bounds-checked; a ClientHello cut
// by the segment end yields false.
func ParseSNI(p []byte) (string, bool) {
	// Record: type 22 (handshake), version 3.x, length.
	if len(p) < 5 || p[0] != 22 || p[1] != 3 {
		return "", false
	}
	p = p[5:]
	// Handshake: type 1 (ClientHello), 3-byte length.
	if len(p) < 4 || p[0] != 1 {
		return "", false
	}
	p = p[4:]
	// client_version(2) random(32)
	if len(p) < 34 {
		return "", false
	}
	p = p[34:]
	var ok bool
	if p, ok = skip8(p); !ok { // session_id
		return "", false
	}
	if p, ok = skip16(p); !ok { // cipher_suites
		return "", false
	}
	if p, ok = skip8(p); !ok { // compression_methods
		return "", false
	}
	if len(p) < 2 {
		return "", false
	}
	ext := p[2:]
	if n := int(p[0])<<8 | int(p[1]); n < len(ext) {
		ext = ext[:n]
	}
	for len(ext) >= 4 {
		typ, n := int(ext[0])<<8|int(ext[1]), int(ext[2])<<8|int(ext[3])
		ext = ext[4:]
		if n > len(ext) {
			return "", false
		}
		body := ext[:n]
		ext = ext[n:]
		if typ != 0 { // server_name
			continue
		}
		if len(body) < 2 {
			return "", false
		}
		list := body[2:]
		for len(list) >= 3 {
			nt, nl := list[0], int(list[1])<<8|int(list[2])
			list = list[3:]
			if nl > len(list) {
				return "", false
			}
			if nt == 0 {
				name := strings.ToLower(string(list[:nl]))
				return name, validHostName(name)
			}
			list = list[nl:]
		}
		return "", false
	}
	return "", false
}

func skip8(p []byte) ([]byte, bool) {
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return nil, false
	}
	return p[1+int(p[0]):], true
}

func skip16(p []byte) ([]byte, bool) {
	if len(p) < 2 {
		return nil, false
	}
	n := int(p[0])<<8 | int(p[1])
	if len(p) < 2+n {
		return nil, false
	}
	return p[2+n:], true
}

func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
