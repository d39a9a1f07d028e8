package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
)

// cluster answers as Elasticsearch's REST API documents it for what the
// hunter uses:
//   - POST /<index>/_pit?keep_alive=1m gives {"id": ...} and DELETE /_pit
//     with {"id": ...} closes it (Point in time API,
//     https://www.elastic.co/guide/en/elasticsearch/reference/current/point-in-time-api.html);
//     OpenSearch's POST /<index>/_search/point_in_time gives {"pit_id": ...}
//     and DELETE /_search/point_in_time takes {"pit_id": [...]}
//     (https://opensearch.org/docs/latest/search-plugins/searching-data/point-in-time-api/);
//   - POST /_search with "pit", "sort", "size", "search_after" and
//     "track_total_hits" gives {"pit_id", "took", "timed_out", "_shards",
//     "hits": {"total": {"value", "relation"}, "hits": [{"_index", "_id",
//     "_score", "_source", "sort"}]}}, each hit's sort values ending with
//     the implicit _shard_doc tiebreaker (Search API and "Paginate search
//     results", https://www.elastic.co/guide/en/elasticsearch/reference/current/paginate-search-results.html).
//
// It evaluates the range filter on the time field and term clauses on
// _source fields, so the hunter's requests are checked by their effect.
type cluster struct {
	t      *testing.T
	flavor string
	apiKey string
	docs   []map[string]any // in shard order

	mu       sync.Mutex
	pits     map[string]bool
	pitSeq   int
	bodies   []map[string]any
	closed   []string
	requests []string
}

func (c *cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiKey != "" && r.Header.Get("Authorization") != "ApiKey "+c.apiKey {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}`)
		return
	}
	c.requests = append(c.requests, r.Method+" "+r.URL.Path)
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	pitPath := "/_pit"
	if c.flavor == FlavorOpenSearch {
		pitPath = "/_search/point_in_time"
	}
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, pitPath) && r.URL.Path != pitPath:
		if r.URL.Query().Get("keep_alive") == "" {
			c.t.Errorf("PIT without keep_alive")
		}
		c.pitSeq++
		id := fmt.Sprintf("pit-%d", c.pitSeq)
		c.pits[id] = true
		if c.flavor == FlavorOpenSearch {
			fmt.Fprintf(w, `{"pit_id":%q,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"creation_time":1714557600000}`, id)
		} else {
			fmt.Fprintf(w, `{"id":%q,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`, id)
		}
	case r.Method == http.MethodDelete && r.URL.Path == pitPath:
		var req struct {
			ID    string   `json:"id"`
			PITID []string `json:"pit_id"`
		}
		json.Unmarshal(body, &req)
		ids := append(req.PITID, req.ID)
		for _, id := range ids {
			if c.pits[id] {
				delete(c.pits, id)
				c.closed = append(c.closed, id)
			}
		}
		fmt.Fprint(w, `{"succeeded":true,"num_freed":1}`)
	case r.Method == http.MethodPost && r.URL.Path == "/_search":
		c.search(w, body)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"type":"unknown","reason":"no handler for %s %s"},"status":404}`, r.Method, r.URL.Path)
	}
}

func (c *cluster) search(w http.ResponseWriter, body []byte) {
	var req map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		c.t.Errorf("search body: %v", err)
	}
	c.bodies = append(c.bodies, req)
	pit, _ := req["pit"].(map[string]any)
	id, _ := pit["id"].(string)
	if !c.pits[id] {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"type":"search_context_missing_exception","reason":"No search context found for id [%s]"},"status":404}`, id)
		return
	}
	filters := req["query"].(map[string]any)["bool"].(map[string]any)["filter"].([]any)
	rng := filters[0].(map[string]any)["range"].(map[string]any)["@timestamp"].(map[string]any)
	gte, _ := time.Parse(time.RFC3339, rng["gte"].(string))
	lt, _ := time.Parse(time.RFC3339, rng["lt"].(string))
	term, _ := filters[1].(map[string]any)["term"].(map[string]any)
	var after [2]int64
	if sa, ok := req["search_after"].([]any); ok {
		after[0], _ = sa[0].(json.Number).Int64()
		after[1], _ = sa[1].(json.Number).Int64()
	}
	size, _ := req["size"].(json.Number).Int64()
	var matched []int
	for i, d := range c.docs {
		at, _ := time.Parse(time.RFC3339, d["@timestamp"].(string))
		if at.Before(gte) || !at.Before(lt) {
			continue
		}
		ok := true
		for k, v := range term {
			ok = ok && fmt.Sprint(search.Flatten(d)[k]) == fmt.Sprint(v)
		}
		if ok {
			matched = append(matched, i)
		}
	}
	// Sorted by time, then _shard_doc (the docs are in time order).
	hits := []any{}
	for _, i := range matched {
		at, _ := time.Parse(time.RFC3339, c.docs[i]["@timestamp"].(string))
		key := [2]int64{at.UnixMilli(), int64(i)}
		if req["search_after"] != nil && (key[0] < after[0] || key[0] == after[0] && key[1] <= after[1]) {
			continue
		}
		if int64(len(hits)) == size {
			break
		}
		hits = append(hits, map[string]any{"_index": "logs-2024.05.01", "_id": fmt.Sprintf("doc%d", i), "_score": nil,
			"_source": c.docs[i], "sort": []int64{key[0], key[1]}})
	}
	c.pitSeq++
	newID := fmt.Sprintf("pit-%d", c.pitSeq) // the id may change between pages
	delete(c.pits, id)
	c.pits[newID] = true
	json.NewEncoder(w).Encode(map[string]any{
		"pit_id": newID, "took": 3, "timed_out": false,
		"_shards": map[string]int{"total": 1, "successful": 1, "skipped": 0, "failed": 0},
		"hits":    map[string]any{"total": map[string]any{"value": len(matched), "relation": "eq"}, "max_score": nil, "hits": hits},
	})
}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func newCluster(t *testing.T, flavor string) (*cluster, *httptest.Server) {
	c := &cluster{t: t, flavor: flavor, pits: map[string]bool{}}
	for i := range 20 {
		outcome := "failure"
		if i%2 == 1 {
			outcome = "success"
		}
		// Two documents per second, so sort values tie on time.
		c.docs = append(c.docs, map[string]any{
			"@timestamp": t0.Add(time.Duration(i/2) * time.Second).Format(time.RFC3339),
			"event":      map[string]any{"outcome": outcome},
			"user":       map[string]any{"name": fmt.Sprintf("u%02d", i)},
			"source":     map[string]any{"ip": fmt.Sprintf("10.0.0.%d", i)},
		})
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

func newBackend(t *testing.T, urls []string, flavor string, page int) *Backend {
	t.Helper()
	b, err := New(Config{URLs: urls, Index: "logs-*", TimeField: "@timestamp", Flavor: flavor, PageSize: page, KeepAlive: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func rule(q string, max int) *rules.Rule {
	return &rules.Rule{Path: "r.ini", Name: "r", Query: q, MaxResultCount: max, QueryTimeout: time.Minute}
}

func users(res *search.Result) string {
	var out []string
	for _, e := range res.Events {
		out = append(out, search.String(e.Fields["user.name"]))
	}
	return strings.Join(out, ",")
}

// Query DSL in a bool filter beside the time range, paged with
// search_after inside a point in time that is closed afterwards.
func TestSearchAfterPaging(t *testing.T) {
	for _, flavor := range []string{FlavorElasticsearch, FlavorOpenSearch} {
		t.Run(flavor, func(t *testing.T) {
			c, srv := newCluster(t, flavor)
			b := newBackend(t, []string{srv.URL}, flavor, 3)
			r := rule(`{"term": {"event.outcome": "failure"}}`, 100)
			if err := b.Prepare(r); err != nil {
				t.Fatal(err)
			}
			w := search.Window{Start: t0.Add(time.Second), End: t0.Add(9 * time.Second)}
			res, err := b.Search(context.Background(), r, w)
			if err != nil {
				t.Fatal(err)
			}
			// Failures are the even documents; seconds 1..8 hold docs 2..17.
			if got := users(res); got != "u02,u04,u06,u08,u10,u12,u14,u16" || res.Total != 8 {
				t.Fatalf("users %s, total %d", got, res.Total)
			}
			if !strings.Contains(res.Query, `"lt":"2024-05-01T10:00:09.000Z"`) {
				t.Errorf("query %s", res.Query)
			}
			e := res.Events[0]
			if !e.Time.Equal(t0.Add(time.Second)) || e.Fields["_id"] != "doc2" || e.Fields["source.ip"] != "10.0.0.2" ||
				!strings.Contains(string(e.Raw), `"_source"`) {
				t.Errorf("event %+v raw %s", e.Fields, e.Raw)
			}
			// Pages that end between two documents of the same time lose
			// none and repeat none: the sort values carry the tiebreaker.
			all := rule(`{"match_all": {}}`, 100)
			b.Prepare(all)
			res, err = b.Search(context.Background(), all, search.Window{Start: t0, End: t0.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range 20 {
				want = append(want, fmt.Sprintf("u%02d", i))
			}
			if got := users(res); got != strings.Join(want, ",") {
				t.Errorf("match_all: %s", got)
			}
			if len(c.bodies) != 3+7 || len(c.pits) != 0 || len(c.closed) != 2 {
				t.Errorf("%d pages, open PITs %v, closed %v", len(c.bodies), c.pits, c.closed)
			}
			first := c.bodies[0]
			if first["track_total_hits"] != true || first["search_after"] != nil || c.bodies[1]["search_after"] == nil {
				t.Errorf("first request %v", first)
			}
		})
	}
}

func TestMaxResultCountAndQueryString(t *testing.T) {
	c, srv := newCluster(t, FlavorElasticsearch)
	b := newBackend(t, []string{srv.URL}, FlavorElasticsearch, 3)
	r := rule("user.name:u* AND NOT event.outcome:success", 4)
	if err := b.Prepare(r); err != nil {
		t.Fatal(err)
	}
	res, err := b.Search(context.Background(), r, search.Window{Start: t0, End: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 4 || res.Total != 20 {
		t.Errorf("%d events, total %d", len(res.Events), res.Total)
	}
	qs := c.bodies[0]["query"].(map[string]any)["bool"].(map[string]any)["filter"].([]any)[1]
	if b, _ := json.Marshal(qs); string(b) != `{"query_string":{"query":"user.name:u* AND NOT event.outcome:success"}}` {
		t.Errorf("query_string clause %s", b)
	}
	if n, _ := c.bodies[1]["size"].(json.Number).Int64(); n != 1 {
		t.Errorf("second page size %d, want 1 (only what max_result_count leaves)", n)
	}
}

func TestPrepare(t *testing.T) {
	b := &Backend{cfg: Config{Index: "logs-*"}}
	r := rule(`{"query": {"match_all": {}}, "_source": ["user.name"]}`, 10)
	if err := b.Prepare(r); err != nil || r.Query != `{"_source":["user.name"],"query":{"match_all":{}}}` {
		t.Errorf("query %s: %v", r.Query, err)
	}
	for _, q := range []string{`{"query": {"match_all": {}}, "size": 5}`, `{"term": `, `{"a":1} {"b":2}`} {
		var re *rules.Error
		if err := b.Prepare(rule(q, 10)); !errors.As(err, &re) || re.Key != "query" {
			t.Errorf("%s: %v", q, err)
		}
	}
	nb := &Backend{cfg: Config{}}
	var re *rules.Error
	if err := nb.Prepare(rule("x", 1)); !errors.As(err, &re) || re.Key != "index" {
		t.Errorf("no index: %v", err)
	}
}

// An API key is sent as "ApiKey ..."; a URL that refuses connections is
// skipped for the next.
func TestAPIKeyAndFailover(t *testing.T) {
	c, srv := newCluster(t, FlavorElasticsearch)
	c.apiKey = "a2V5"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	b, err := New(Config{URLs: []string{dead, srv.URL}, APIKey: "a2V5", Index: "logs-*", TimeField: "@timestamp",
		Flavor: FlavorElasticsearch, PageSize: 100, KeepAlive: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r := rule(`{"match_all": {}}`, 100)
	b.Prepare(r)
	res, err := b.Search(context.Background(), r, search.Window{Start: t0, End: t0.Add(time.Minute)})
	if err != nil || len(res.Events) != 20 {
		t.Fatalf("%v, %v", res, err)
	}
	b.cfg.APIKey = "wrong"
	if _, err := b.Search(context.Background(), r, search.Window{Start: t0, End: t0.Add(time.Minute)}); err == nil ||
		!strings.Contains(err.Error(), "401") {
		t.Errorf("error %v", err)
	}
}
