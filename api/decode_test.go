package api

import (
	"strings"
	"testing"
	"time"
)

// The zero time (0001-01-01 00:00:00 UTC) means "no time" past the
// decoder, so a client that sends it gets a 400 naming the field instead
// of having it silently replaced by the time of receipt; every other
// instant of year 1 is kept.
func TestDecodeAnalysisZeroTime(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      string    // 400 message prefix; "" means accepted
		event     time.Time // accepted: the event time kept
	}{
		{name: "event_time zero", doc: `{"description":"x","event_time":"0001-01-01 00:00:00 +0000"}`,
			want: "invalid event_time 0001-01-01 00:00:00 +0000: 0001-01-01 00:00:00 UTC is the zero time"},
		{name: "event_time zero RFC 3339", doc: `{"description":"x","event_time":"0001-01-01T00:00:00Z"}`,
			want: "invalid event_time 0001-01-01T00:00:00Z"},
		{name: "event_time zero by offset", doc: `{"description":"x","event_time":"0001-01-01T01:00:00.000000+0100"}`,
			want: "invalid event_time"},
		{name: "observable time zero", doc: `{"description":"x","observables":[{"type":"ipv4","value":"1.2.3.4","time":"0001-01-01T00:00:00.000000+0000"}]}`,
			want: "observable 0 (ipv4) has an invalid time 0001-01-01T00:00:00.000000+0000"},
		{name: "year 1, one microsecond later", doc: `{"description":"x","event_time":"0001-01-01T00:00:00.000001+0000"}`,
			event: time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{name: "year 1 west of UTC", doc: `{"description":"x","event_time":"0001-01-01 00:00:00 -0100"}`,
			event: time.Date(1, 1, 1, 1, 0, 0, 0, time.UTC)},
		{name: "east of UTC before year 1", doc: `{"description":"x","event_time":"0001-01-01 00:00:00 +0100"}`,
			want: "invalid event time format for 0001-01-01 00:00:00 +0100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, herr := decodeAnalysis(tc.doc, "", "127.0.0.1:1")
			switch {
			case tc.want == "" && herr != nil:
				t.Fatalf("rejected: %d %s", herr.code, herr.msg)
			case tc.want == "" && !rec.EventTime.Equal(tc.event):
				t.Fatalf("event time %v, want %v", rec.EventTime, tc.event)
			case tc.want != "" && herr == nil:
				t.Fatalf("accepted with event time %v, want 400 %q", rec.EventTime, tc.want)
			case tc.want != "" && (herr.code != 400 || !strings.HasPrefix(herr.msg, tc.want)):
				t.Fatalf("got %d %q, want 400 %q", herr.code, herr.msg, tc.want)
			}
		})
	}
}

// json.Decoder.More is false before a stray closing delimiter, so these
// were once accepted as if the document ended at the first object.
func TestDecodeAnalysisTrailingData(t *testing.T) {
	for _, doc := range []string{`{"description":"x"}}`, `{"description":"x"}]`, `{"description":"x"} {}`, `{"description":"x"} x`} {
		if _, herr := decodeAnalysis(doc, "", "127.0.0.1:1"); herr == nil || herr.msg != "analysis field has data after the JSON object" {
			t.Errorf("%s: got %v, want the trailing-data 400", doc, herr)
		}
	}
	if _, herr := decodeAnalysis("{\"description\":\"x\"} \n\t", "", "127.0.0.1:1"); herr != nil {
		t.Errorf("trailing white space rejected: %v", herr.msg)
	}
}
