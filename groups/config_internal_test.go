package groups

import (
	"testing"
)

func TestTranslationThreePartForm(t *testing.T) {
	from, to, err := parseTranslation("10.1.1.2:443, 127.0.0.1, 8443")
	if err != nil || from != "10.1.1.2:443" || to != "127.0.0.1:8443" {
		t.Fatalf("got %q %q %v", from, to, err)
	}
	if _, _, err := parseTranslation("just-one-part"); err == nil {
		t.Fatal("bad translation accepted")
	}
}
