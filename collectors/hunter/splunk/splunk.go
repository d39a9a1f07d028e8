// Package splunk is the hunter's Splunk backend (hunt_type = splunk): a
// client of Splunk's REST search API. A run creates a search job in the
// rule's app/user namespace (POST servicesNS/USER/APP/search/jobs), polls
// it until it is done (cancelling it past query_timeout), reads up to
// max_result_count results (GET .../results?output_mode=json) and deletes
// the job. ACE's query conventions are kept: {time_spec} becomes
// "earliest = MM/DD/YYYY:HH:MM:SS latest = ..." (or _index_earliest and
// _index_latest with use_index_time) in the configured time zone, and
// <include:path> is replaced by the file's text.
package splunk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
)

// Config is the splunk_* keys of a hunter's section.
type Config struct {
	URI      string // https://host:8089 (the management port)
	Username string
	Password string
	Token    string // an authentication token (Authorization: Bearer)
	// Loc is the time zone {time_spec} is written in: the time zone of
	// the Splunk user the hunter searches as (ACE: [splunk] timezone).
	Loc          *time.Location
	CAFile       string // PEM CA bundle; default: the system's roots
	Verify       bool   // verify the server certificate (default yes)
	PollInterval time.Duration
	// Resolve turns relative <include:path> paths into file names.
	Resolve func(string) string
}

// ParseConfig reads the splunk_* keys of sec.
func ParseConfig(sec *collector.Section, g collector.Global) Config {
	c := Config{
		URI:          strings.TrimRight(sec.Required("splunk_uri"), "/"),
		Username:     sec.String("splunk_username", ""),
		Password:     sec.String("splunk_password", ""),
		Token:        sec.String("splunk_token", ""),
		CAFile:       g.Path(sec.String("splunk_ca_file", "")),
		Verify:       sec.Bool("splunk_verify", true),
		PollInterval: sec.Duration("splunk_poll_interval", time.Second),
		Resolve:      g.Path,
	}
	if c.URI != "" {
		if u, err := url.Parse(c.URI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			sec.Errorf("splunk_uri", "%q is not an http(s) URL (e.g. https://splunk.example.com:8089)", c.URI)
		}
	}
	if c.Token == "" && c.Username == "" {
		sec.Errorf("splunk_username", "give splunk_username and splunk_password, or splunk_token")
	}
	if c.Token != "" && c.Username != "" {
		sec.Errorf("splunk_token", "give splunk_token or splunk_username, not both")
	}
	if c.PollInterval <= 0 {
		sec.Errorf("splunk_poll_interval", "must be longer than zero")
		c.PollInterval = time.Second
	}
	tz := sec.String("splunk_timezone", "GMT")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		sec.Errorf("splunk_timezone", "%v", err)
		loc = time.UTC
	}
	c.Loc = loc
	return c
}

// Backend searches one Splunk deployment.
type Backend struct {
	cfg    Config
	client *http.Client
}

var _ search.Backend = (*Backend)(nil)

// New builds the HTTP client (reading the CA file).
func New(cfg Config) (*Backend, error) {
	client, err := search.HTTPClient(cfg.CAFile, "splunk_ca_file", cfg.Verify)
	if err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg, client: client}, nil
}

// Instance implements search.Backend.
func (b *Backend) Instance() string { return b.cfg.URI }

// Close implements search.Backend.
func (b *Backend) Close() error {
	b.client.CloseIdleConnections()
	return nil
}

var include = regexp.MustCompile(`<include:([^>]+)>`)

// Prepare expands <include:path> (again and again, as ACE does, so an
// included file may include others; "#" lines are removed from included
// text) and checks that the query formats with {time_spec}.
func (b *Backend) Prepare(r *rules.Rule) error {
	key := "query"
	if r.SearchPath != "" {
		key = "search"
	}
	fail := func(format string, args ...any) error {
		return &rules.Error{File: r.Path, Section: "rule", Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	q := r.Query
	for n := 0; ; n++ {
		m := include.FindStringSubmatchIndex(q)
		if m == nil {
			break
		}
		if n == 100 {
			return fail("more than 100 <include:...> expansions (does a file include itself?)")
		}
		path := q[m[2]:m[3]]
		if b.cfg.Resolve != nil {
			path = b.cfg.Resolve(path)
		}
		r.Files = append(r.Files, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return fail("<include:%s>: %v", q[m[2]:m[3]], err)
		}
		text := strings.TrimSpace(rules.StripComments(strings.TrimSpace(string(data))))
		q = q[:m[0]] + text + q[m[1]:]
	}
	if !strings.Contains(q, "{time_spec}") {
		return fail("the query has no {time_spec}: without it the search ignores the hunt's window")
	}
	if _, err := FormatQuery(q, "earliest = x latest = y"); err != nil {
		return fail("%v", err)
	}
	r.Query = q
	return nil
}

// FormatQuery fills {time_spec} the way ACE's Python str.format does: "{{"
// and "}}" are literal braces; any other {field} is an error.
func FormatQuery(q, timeSpec string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '{' && strings.HasPrefix(q[i:], "{{"):
			b.WriteByte('{')
			i++
		case c == '}' && strings.HasPrefix(q[i:], "}}"):
			b.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(q[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unmatched '{' at byte %d (write a literal brace as {{)", i)
			}
			field := q[i+1 : i+end]
			if field != "time_spec" {
				return "", fmt.Errorf("unknown placeholder {%s} (only {time_spec}; write literal braces as {{ and }})", field)
			}
			b.WriteString(timeSpec)
			i += end
		case c == '}':
			return "", fmt.Errorf("single '}' at byte %d (write a literal brace as }})", i)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// TimeSpec is ACE's {time_spec} for w.
func (b *Backend) TimeSpec(r *rules.Rule, w search.Window) string {
	const layout = "01/02/2006:15:04:05"
	earliest, latest := w.Start.In(b.cfg.Loc).Format(layout), w.End.In(b.cfg.Loc).Format(layout)
	if r.UseIndexTime {
		return "_index_earliest = " + earliest + " _index_latest = " + latest
	}
	return "earliest = " + earliest + " latest = " + latest
}

// Search implements search.Backend.
func (b *Backend) Search(ctx context.Context, r *rules.Rule, w search.Window) (*search.Result, error) {
	q, err := FormatQuery(r.Query, b.TimeSpec(r, w))
	if err != nil {
		return nil, fmt.Errorf("splunk hunt %s: %w", r.Name, err)
	}
	q = strings.TrimSpace(q)
	if !strings.HasPrefix(q, "search ") && !strings.HasPrefix(q, "|") {
		q = "search " + q
	}
	jobs := b.jobsURL(r)
	sid, err := b.create(ctx, jobs, q)
	if err != nil {
		return nil, fmt.Errorf("splunk hunt %s: %w", r.Name, err)
	}
	res := &search.Result{Query: q, SearchID: sid, Total: -1}
	defer b.remove(jobs, sid)
	waitCtx := ctx
	if r.QueryTimeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, r.QueryTimeout)
		defer cancel()
	}
	total, err := b.wait(waitCtx, jobs, sid)
	if err != nil {
		if errors.Is(waitCtx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("query_timeout %v exceeded: %w", r.QueryTimeout, err)
		}
		return nil, fmt.Errorf("splunk hunt %s: search %s: %w", r.Name, sid, err)
	}
	res.Total = total
	if err := b.results(ctx, jobs, sid, r.MaxResultCount, res); err != nil {
		return nil, fmt.Errorf("splunk hunt %s: search %s: %w", r.Name, sid, err)
	}
	return res, nil
}

// jobsURL is the jobs collection in the rule's namespace.
func (b *Backend) jobsURL(r *rules.Rule) string {
	return b.cfg.URI + "/servicesNS/" + url.PathEscape(r.SplunkUser) + "/" + url.PathEscape(r.SplunkApp) + "/search/jobs"
}

func (b *Backend) do(ctx context.Context, method, u string, form url.Values) ([]byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+b.cfg.Token)
	} else {
		req.SetBasicAuth(b.cfg.Username, b.cfg.Password)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 512<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the response: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, req.URL.Path, resp.Status, messages(data))
	}
	return data, nil
}

// messages extracts Splunk's error messages ({"messages":[{"type","text"}]}).
func messages(data []byte) string {
	var m struct {
		Messages []struct{ Type, Text string } `json:"messages"`
	}
	if json.Unmarshal(data, &m) == nil && len(m.Messages) > 0 {
		var parts []string
		for _, x := range m.Messages {
			parts = append(parts, x.Type+": "+x.Text)
		}
		return strings.Join(parts, "; ")
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func (b *Backend) create(ctx context.Context, jobs, q string) (string, error) {
	data, err := b.do(ctx, http.MethodPost, jobs, url.Values{"search": {q}, "output_mode": {"json"}, "exec_mode": {"normal"}})
	if err != nil {
		return "", fmt.Errorf("creating the search job: %w", err)
	}
	var resp struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(data, &resp); err != nil || resp.SID == "" {
		return "", fmt.Errorf("creating the search job: no sid in the response: %s", messages(data))
	}
	return resp.SID, nil
}

// jobStatus is the part of GET search/jobs/{sid} the hunter reads.
type jobStatus struct {
	Entry []struct {
		Content struct {
			DispatchState string `json:"dispatchState"`
			IsDone        bool   `json:"isDone"`
			IsFailed      bool   `json:"isFailed"`
			ResultCount   int    `json:"resultCount"`
			Messages      []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"messages"`
		} `json:"content"`
	} `json:"entry"`
}

// wait polls the job until it is done and returns its result count; past
// ctx it cancels the job.
func (b *Backend) wait(ctx context.Context, jobs, sid string) (int, error) {
	u := jobs + "/" + url.PathEscape(sid) + "?output_mode=json"
	delay := min(100*time.Millisecond, b.cfg.PollInterval)
	for {
		data, err := b.do(ctx, http.MethodGet, u, nil)
		if err != nil {
			if ctx.Err() != nil {
				b.cancel(jobs, sid)
			}
			return 0, fmt.Errorf("polling: %w", err)
		}
		var st jobStatus
		if err := json.Unmarshal(data, &st); err != nil || len(st.Entry) == 0 {
			return 0, fmt.Errorf("polling: unexpected job status: %s", messages(data))
		}
		c := st.Entry[0].Content
		if c.IsFailed || c.DispatchState == "FAILED" {
			var texts []string
			for _, m := range c.Messages {
				texts = append(texts, m.Type+": "+m.Text)
			}
			return 0, fmt.Errorf("search failed: %s", strings.Join(texts, "; "))
		}
		if c.IsDone || c.DispatchState == "DONE" {
			return c.ResultCount, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			b.cancel(jobs, sid)
			return 0, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, b.cfg.PollInterval)
	}
}

// cancel stops a job that ran past its time (on its own short deadline:
// the run's context is already over).
func (b *Backend) cancel(jobs, sid string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.do(ctx, http.MethodPost, jobs+"/"+url.PathEscape(sid)+"/control", url.Values{"action": {"cancel"}, "output_mode": {"json"}})
}

// remove deletes the finished job, so it does not hold disk on the search
// head until its TTL; a failure only costs that.
func (b *Backend) remove(jobs, sid string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.do(ctx, http.MethodDelete, jobs+"/"+url.PathEscape(sid)+"?output_mode=json", nil)
}

func (b *Backend) results(ctx context.Context, jobs, sid string, limit int, res *search.Result) error {
	u := jobs + "/" + url.PathEscape(sid) + "/results?output_mode=json&offset=0&count=" + strconv.Itoa(limit)
	data, err := b.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("reading results: %w", err)
	}
	var body struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return fmt.Errorf("reading results: %w", err)
	}
	for _, raw := range body.Results {
		if len(res.Events) >= limit {
			break
		}
		var fields map[string]any
		if err := json.Unmarshal(raw, &fields); err != nil {
			return fmt.Errorf("reading results: a result is not an object: %w", err)
		}
		res.Events = append(res.Events, search.Event{Fields: fields, Time: eventTime(fields["_time"]), Raw: raw})
	}
	if res.Total < len(res.Events) {
		res.Total = len(res.Events)
	}
	return nil
}

// eventTime parses Splunk's _time ("2006-01-02T15:04:05.000-07:00"),
// keeping its offset (ACE drops it and reads the clock time in the
// configured zone). Zero if absent or unparsable.
func eventTime(v any) time.Time {
	s, _ := v.(string)
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		return time.UnixMilli(int64(secs * 1000)).UTC()
	}
	return time.Time{}
}
