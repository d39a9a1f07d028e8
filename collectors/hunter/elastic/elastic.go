// Package elastic is the hunter's Elasticsearch/OpenSearch backend
// (hunt_type = elasticsearch): a client of the _search API. A rule's
// query is either query DSL (a JSON object: a query clause, or a request
// with a "query" key) or query-string text; the hunter adds a range filter
// on the time field for the window, sorts on that field and pages with
// search_after inside a point in time (Elasticsearch's _pit, OpenSearch's
// _search/point_in_time) up to max_result_count hits.
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
)

// Flavors: which point-in-time API the cluster speaks.
const (
	FlavorElasticsearch = "elasticsearch"
	FlavorOpenSearch    = "opensearch"
)

// Config is the elasticsearch_* keys of a hunter's section.
type Config struct {
	URLs      []string
	APIKey    string // Authorization: ApiKey <key> (the encoded id:key)
	Username  string
	Password  string
	CAFile    string
	Verify    bool
	Index     string // default index pattern (a rule's index wins)
	TimeField string // default time field (a rule's time_field wins)
	Flavor    string
	PageSize  int
	KeepAlive time.Duration
}

// ParseConfig reads the elasticsearch_* keys of sec.
func ParseConfig(sec *collector.Section, g collector.Global) Config {
	c := Config{
		URLs:      sec.List("elasticsearch_urls"),
		APIKey:    sec.String("elasticsearch_api_key", ""),
		Username:  sec.String("elasticsearch_username", ""),
		Password:  sec.String("elasticsearch_password", ""),
		CAFile:    g.Path(sec.String("elasticsearch_ca_file", "")),
		Verify:    sec.Bool("elasticsearch_verify", true),
		Index:     sec.String("elasticsearch_index", ""),
		TimeField: sec.String("elasticsearch_time_field", "@timestamp"),
		Flavor:    sec.OneOf("elasticsearch_flavor", FlavorElasticsearch, FlavorElasticsearch, FlavorOpenSearch),
		PageSize:  sec.Int("elasticsearch_page_size", 1000, 1, 10000),
		KeepAlive: sec.Duration("elasticsearch_keep_alive", time.Minute),
	}
	if len(c.URLs) == 0 {
		sec.Errorf("elasticsearch_urls", "required (comma-separated, e.g. https://es1:9200)")
	}
	for i, s := range c.URLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			sec.Errorf("elasticsearch_urls", "%q is not an http(s) URL", s)
		}
		c.URLs[i] = strings.TrimRight(s, "/")
	}
	if c.APIKey != "" && c.Username != "" {
		sec.Errorf("elasticsearch_api_key", "give elasticsearch_api_key or elasticsearch_username, not both")
	}
	if c.KeepAlive < time.Second {
		sec.Errorf("elasticsearch_keep_alive", "must be at least 1s")
		c.KeepAlive = time.Minute
	}
	return c
}

// Backend searches one cluster.
type Backend struct {
	cfg    Config
	client *http.Client
}

var _ search.Backend = (*Backend)(nil)

// New builds the HTTP client (reading the CA file).
func New(cfg Config) (*Backend, error) {
	client, err := search.HTTPClient(cfg.CAFile, "elasticsearch_ca_file", cfg.Verify)
	if err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg, client: client}, nil
}

// Instance implements search.Backend.
func (b *Backend) Instance() string { return strings.Join(b.cfg.URLs, ",") }

// Close implements search.Backend.
func (b *Backend) Close() error {
	b.client.CloseIdleConnections()
	return nil
}

// requestKeys are the search-request keys a rule may give besides
// "query"; size, sort, from, pit and search_after belong to the hunter.
var requestKeys = []string{"query", "_source", "fields", "runtime_mappings", "docvalue_fields", "stored_fields"}

// Prepare turns the rule's query into the request fragment the hunter
// sends (stored back in r.Query as JSON): DSL as given, or text as a
// query_string query. It also checks that an index is known.
func (b *Backend) Prepare(r *rules.Rule) error {
	key := "query"
	if r.SearchPath != "" {
		key = "search"
	}
	fail := func(k, format string, args ...any) error {
		return &rules.Error{File: r.Path, Section: "rule", Key: k, Msg: fmt.Sprintf(format, args...)}
	}
	if r.Index == "" && b.cfg.Index == "" {
		return fail("index", "no index: set index in the rule or elasticsearch_index in the collector")
	}
	req, err := requestFragment(r.Query)
	if err != nil {
		return fail(key, "%v", err)
	}
	out, err := json.Marshal(req)
	if err != nil {
		return fail(key, "%v", err)
	}
	r.Query = string(out)
	return nil
}

func requestFragment(q string) (map[string]json.RawMessage, error) {
	q = strings.TrimSpace(q)
	if !strings.HasPrefix(q, "{") {
		clause, err := json.Marshal(map[string]any{"query_string": map[string]any{"query": q}})
		return map[string]json.RawMessage{"query": clause}, err
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(q))
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("query DSL is not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("query DSL: text after the JSON object")
	}
	if _, ok := obj["query"]; !ok {
		return map[string]json.RawMessage{"query": json.RawMessage(q)}, nil
	}
	for k := range obj {
		if !slices.Contains(requestKeys, k) {
			return nil, fmt.Errorf("query DSL: %q is not allowed in a hunt (the hunter sets size, sort, pagination and the time range; allowed: %s)",
				k, strings.Join(requestKeys, ", "))
		}
	}
	return obj, nil
}

// Search implements search.Backend.
func (b *Backend) Search(ctx context.Context, r *rules.Rule, w search.Window) (*search.Result, error) {
	var frag map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.Query), &frag); err != nil {
		return nil, fmt.Errorf("elasticsearch hunt %s: the prepared query: %w", r.Name, err)
	}
	if r.QueryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.QueryTimeout)
		defer cancel()
	}
	index := r.Index
	if index == "" {
		index = b.cfg.Index
	}
	tf := r.TimeField
	if tf == "" {
		tf = b.cfg.TimeField
	}
	pit, err := b.openPIT(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch hunt %s: %w", r.Name, err)
	}
	defer func() { b.closePIT(pit) }()
	res := &search.Result{Total: -1}
	var after json.RawMessage
	for len(res.Events) < r.MaxResultCount {
		size := min(b.cfg.PageSize, r.MaxResultCount-len(res.Events))
		body := b.request(frag, tf, w, &pit, after, size)
		if res.Query == "" {
			res.Query = string(body)
		}
		page, err := b.page(ctx, body)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch hunt %s: %w", r.Name, err)
		}
		if page.PITID != "" {
			pit = page.PITID
		}
		res.Total = page.Hits.Total.Value
		for _, h := range page.Hits.Hits {
			ev, err := event(h.raw, h.Source, h.ID, h.Index, tf)
			if err != nil {
				return nil, fmt.Errorf("elasticsearch hunt %s: %w", r.Name, err)
			}
			res.Events = append(res.Events, ev)
		}
		// A short page is the last: the point in time fixes the hits.
		if len(page.Hits.Hits) < size || len(page.Hits.Hits[len(page.Hits.Hits)-1].Sort) == 0 {
			break
		}
		after = page.Hits.Hits[len(page.Hits.Hits)-1].Sort
	}
	return res, nil
}

// request builds one page's body: the rule's fragment with its query put
// in a bool filter beside the range on the time field.
func (b *Backend) request(frag map[string]json.RawMessage, tf string, w search.Window, pit *string, after json.RawMessage, size int) []byte {
	const layout = "2006-01-02T15:04:05.000Z"
	body := map[string]any{}
	for k, v := range frag {
		body[k] = v
	}
	body["query"] = map[string]any{"bool": map[string]any{"filter": []any{
		map[string]any{"range": map[string]any{tf: map[string]any{
			"gte": w.Start.UTC().Format(layout), "lt": w.End.UTC().Format(layout), "format": "strict_date_optional_time",
		}}},
		frag["query"],
	}}}
	// With a point in time Elasticsearch adds the _shard_doc tiebreaker
	// itself and returns it in each hit's sort values.
	body["sort"] = []any{map[string]any{tf: map[string]any{"order": "asc"}}}
	body["size"] = size
	body["track_total_hits"] = true
	body["pit"] = map[string]any{"id": *pit, "keep_alive": keepAlive(b.cfg.KeepAlive)}
	if after != nil {
		body["search_after"] = after
	}
	out, _ := json.Marshal(body) // only values json.Marshal accepts
	return out
}

func keepAlive(d time.Duration) string { return strconv.Itoa(int(d/time.Second)) + "s" }

type hit struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Source json.RawMessage `json:"_source"`
	Sort   json.RawMessage `json:"sort"`
	raw    json.RawMessage
}

type pageResponse struct {
	PITID string `json:"pit_id"`
	Hits  struct {
		Total struct {
			Value int `json:"value"`
		} `json:"total"`
		Hits []hit `json:"hits"`
	} `json:"hits"`
}

func (b *Backend) page(ctx context.Context, body []byte) (*pageResponse, error) {
	data, err := b.do(ctx, http.MethodPost, "/_search", body)
	if err != nil {
		return nil, err
	}
	var p pageResponse
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("_search: decoding the response: %w", err)
	}
	var raws struct {
		Hits struct {
			Hits []json.RawMessage `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(data, &raws); err == nil && len(raws.Hits.Hits) == len(p.Hits.Hits) {
		for i := range p.Hits.Hits {
			p.Hits.Hits[i].raw = raws.Hits.Hits[i]
		}
	}
	return &p, nil
}

func event(raw, source json.RawMessage, id, index, tf string) (search.Event, error) {
	var src map[string]any
	if len(source) > 0 {
		dec := json.NewDecoder(bytes.NewReader(source))
		dec.UseNumber()
		if err := dec.Decode(&src); err != nil {
			return search.Event{}, fmt.Errorf("hit %s: _source is not an object: %w", id, err)
		}
	}
	fields := search.Flatten(src)
	fields["_id"], fields["_index"] = id, index
	if raw == nil {
		raw = source
	}
	return search.Event{Fields: fields, Time: hitTime(fields[tf]), Raw: raw}, nil
}

// hitTime reads the time field: an ISO 8601 date or epoch milliseconds.
func hitTime(v any) time.Time {
	switch x := v.(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC()
			}
		}
	case json.Number:
		if ms, err := x.Int64(); err == nil {
			return time.UnixMilli(ms).UTC()
		}
	}
	return time.Time{}
}

func (b *Backend) openPIT(ctx context.Context, index string) (string, error) {
	path := "/" + url.PathEscape(index) + "/_pit?keep_alive=" + keepAlive(b.cfg.KeepAlive)
	if b.cfg.Flavor == FlavorOpenSearch {
		path = "/" + url.PathEscape(index) + "/_search/point_in_time?keep_alive=" + keepAlive(b.cfg.KeepAlive)
	}
	data, err := b.do(ctx, http.MethodPost, path, nil)
	if err != nil {
		return "", fmt.Errorf("opening a point in time on %s: %w", index, err)
	}
	var resp struct {
		ID    string `json:"id"`
		PITID string `json:"pit_id"`
	}
	if err := json.Unmarshal(data, &resp); err != nil || resp.ID+resp.PITID == "" {
		return "", fmt.Errorf("opening a point in time on %s: no id in %s", index, oneLine(data))
	}
	if resp.ID != "" {
		return resp.ID, nil
	}
	return resp.PITID, nil
}

// closePIT releases the point in time (on its own deadline: the run's
// may be over); a failure only keeps it until its keep_alive ends.
func (b *Backend) closePIT(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if b.cfg.Flavor == FlavorOpenSearch {
		body, _ := json.Marshal(map[string]any{"pit_id": []string{id}})
		b.do(ctx, http.MethodDelete, "/_search/point_in_time", body)
		return
	}
	body, _ := json.Marshal(map[string]string{"id": id})
	b.do(ctx, http.MethodDelete, "/_pit", body)
}

// do sends a request to the first URL that answers (the next one after a
// connection failure).
func (b *Backend) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var errs []error
	for _, base := range b.cfg.URLs {
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		switch {
		case b.cfg.APIKey != "":
			req.Header.Set("Authorization", "ApiKey "+b.cfg.APIKey)
		case b.cfg.Username != "":
			req.SetBasicAuth(b.cfg.Username, b.cfg.Password)
		}
		resp, err := b.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			errs = append(errs, err)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 512<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: reading the response: %w", method, base+path, err)
		}
		if resp.StatusCode/100 != 2 {
			return nil, fmt.Errorf("%s %s: %s: %s", method, req.URL.Path, resp.Status, oneLine(data))
		}
		return data, nil
	}
	return nil, errors.Join(errs...)
}

func oneLine(data []byte) string {
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
