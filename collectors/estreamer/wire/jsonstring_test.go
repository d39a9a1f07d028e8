package wire

import (
	"encoding/json"
	"testing"
)

// appendJSONString must write what encoding/json writes, for any string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "fileName", "10.0.0.1", "ed81dc4e-3444-11eb-a581-703a42c735fb",
		"a\"b\\c", "<script>&", "\x00\x1f\x7f", "caf\u00e9", "\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got[1:], want)
		}
	})
}
