package search

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestValuesAndFlatten(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want []string
	}{
		{"a", []string{"a"}}, {json.Number("12"), []string{"12"}}, {float64(1.5), []string{"1.5"}}, {float64(1e21), []string{"1000000000000000000000"}},
		{int64(-3), []string{"-3"}}, {true, []string{"true"}}, {nil, nil}, {"", nil},
		{[]any{"x", nil, 2.0, ""}, []string{"x", "2"}}, {map[string]any{"a": 1}, nil},
		{time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("", 3600)), []string{"2024-05-01T11:00:00Z"}},
	} {
		if got := Values(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Values(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	got := Flatten(map[string]any{"source": map[string]any{"ip": "10.0.0.1", "geo": map[string]any{"cc": "DE"}}, "tags": []any{"a"}})
	want := map[string]any{"source.ip": "10.0.0.1", "source.geo.cc": "DE", "tags": []any{"a"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Flatten = %v", got)
	}
	w := Window{Start: time.Unix(10, 0), End: time.Unix(10, 0)}
	if !w.Empty() || w.Shift(time.Second).Start != time.Unix(11, 0) {
		t.Errorf("window %v", w)
	}
}
