package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every example under configs/ must load and validate, so they never rot.
func TestExampleConfigsValidate(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.ini")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, p, err := loadConfig([]string{f})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.List() {
				t.Errorf("%s: %v", f, e)
			}
		})
	}
}

func TestValidateReportsEveryMistake(t *testing.T) {
	conf := `
[global]
node = n1
log_level = loud

[collection]
store = embedded
colour = blue

[node_a]
analysis_modes = any

[collection_group_g]
coverage = 150
full_delivery = maybe
target_nodes = nosuchnode
batch_sise = 10

[node_translation]
x = only-one-part

[collector_c]
type = nosuchkind
`
	path := filepath.Join(t.TempDir(), "bad.ini")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	_, p, err := loadConfig([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, e := range p.List() {
		all = append(all, e.Error())
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{
		"[global] log_level",
		"[collection] colour: unknown key",
		"[node_a] location: required",
		"[collection_group_g] coverage: 150 is out of range",
		"[collection_group_g] full_delivery",
		"[collection_group_g] batch_sise: unknown key",
		"[collection_group_g] target_nodes",
		"[node_translation] x",
		"[collector_c] type: unknown collector type",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problem %q not reported; got:\n%s", want, text)
		}
	}
	if len(all) < 9 {
		t.Errorf("%d problems reported, want at least 9", len(all))
	}
}
