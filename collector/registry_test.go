package collector

import (
	"context"
	"slices"
	"strings"
	"testing"
)

type nopCollector struct{}

func (nopCollector) Run(ctx context.Context, _ *Env) error { <-ctx.Done(); return nil }

func nopFactory(*Section, Global) (Collector, error) { return nopCollector{}, nil }

// isolateRegistry gives the test an empty registry and restores the real
// one (the kinds imported by other tests) afterwards.
func isolateRegistry(t *testing.T) {
	t.Helper()
	regMu.Lock()
	saved := registry
	registry = map[string]Kind{}
	regMu.Unlock()
	t.Cleanup(func() {
		regMu.Lock()
		registry = saved
		regMu.Unlock()
	})
}

func validKind(name string) Kind {
	return Kind{Name: name, Summary: "test kind " + name, Sample: []byte("[collector_x]\ntype = " + name + "\n"), New: nopFactory}
}

func TestRegisterLookupKindsSorted(t *testing.T) {
	isolateRegistry(t)
	for _, n := range []string{"syslog", "email", "pcap"} {
		Register(validKind(n))
	}
	k, ok := Lookup("email")
	if !ok || k.Name != "email" || k.New == nil || k.Summary != "test kind email" || len(k.Sample) == 0 {
		t.Fatalf("Lookup(email) = %+v, %v", k, ok)
	}
	if _, ok := Lookup("nosuch"); ok {
		t.Error("Lookup of an unregistered kind succeeded")
	}
	var names []string
	for _, k := range Kinds() {
		names = append(names, k.Name)
	}
	if want := []string{"email", "pcap", "syslog"}; !slices.Equal(names, want) || !slices.Equal(KindNames(), want) {
		t.Errorf("Kinds() = %v, KindNames() = %v; want %v", names, KindNames(), want)
	}
}

func TestRegisterPanicsOnProgrammingErrors(t *testing.T) {
	isolateRegistry(t)
	Register(validKind("dup"))
	mod := func(f func(*Kind)) Kind {
		k := validKind("ok")
		f(&k)
		return k
	}
	for _, tc := range []struct {
		name string
		k    Kind
		want string
	}{
		{"duplicate", validKind("dup"), "registered twice"},
		{"empty name", mod(func(k *Kind) { k.Name = "" }), "without a name"},
		{"blank name", mod(func(k *Kind) { k.Name = "  " }), "without a name"},
		{"name with space", mod(func(k *Kind) { k.Name = "file drop" }), "white space"},
		{"nil factory", mod(func(k *Kind) { k.New = nil }), "without a factory"},
		{"empty summary", mod(func(k *Kind) { k.Summary = " " }), "summary"},
		{"two-line summary", mod(func(k *Kind) { k.Summary = "a\nb" }), "summary"},
		{"empty sample", mod(func(k *Kind) { k.Sample = []byte("\n") }), "sample"},
		{"nil sample", mod(func(k *Kind) { k.Sample = nil }), "sample"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("Register did not panic")
				}
				if msg := fmtPanic(r); !strings.Contains(msg, tc.want) {
					t.Errorf("panic %q does not mention %q", msg, tc.want)
				}
			}()
			Register(tc.k)
		})
	}
	if _, ok := Lookup("ok"); ok {
		t.Error("a rejected kind was registered")
	}
}

func fmtPanic(r any) string {
	switch v := r.(type) {
	case error:
		return v.Error()
	case string:
		return v
	}
	return ""
}
