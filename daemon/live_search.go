package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/ace-collector/ace-collector/persistence"
)

// liveSearchScan bounds how many stored submissions one IP search reads
// (newest first), so a search costs the same whatever the backlog.
const liveSearchScan = 20000

// SearchResult is what /live/search answers.
type SearchResult struct {
	IP string `json:"ip"`
	// Rows are the matches, newest first, each with its current states.
	Rows []*RowView `json:"rows"`
	// Scanned counts the rows looked at: the in-memory history and the
	// store's newest submissions.
	Scanned int `json:"scanned"`
}

// Search finds the newest submissions (at most limit) with an address
// observable equal to ip: in the live history, then in the store (which
// also holds submissions stored before this process started, until they
// are cleaned up after delivery).
func (d *Daemon) Search(ctx context.Context, ip netip.Addr, limit int) (*SearchResult, error) {
	ip = ip.Unmap()
	res := &SearchResult{IP: ip.String(), Rows: []*RowView{}}
	seen := map[string]bool{}
	snap, _ := d.live.snapshot(func(*liveRow) bool { return true })
	for _, s := range snap {
		res.Scanned++
		var sub liveSub
		if s.row.payload == nil || json.Unmarshal(s.row.payload, &sub) != nil || !matchesIP(sub.Observables, ip) {
			continue
		}
		v, _ := s.row.summary()
		rv := *v
		rv.States = map[string]string{}
		for i, g := range s.row.groups {
			rv.States[g] = s.states[i]
		}
		seen[rv.UUID] = true
		res.Rows = append(res.Rows, &rv)
		if len(res.Rows) >= limit {
			return res, nil
		}
	}
	var before int64
	for scanned := 0; scanned < liveSearchScan; {
		works, err := d.store.Recent(ctx, before, 500)
		if err != nil {
			return nil, err
		}
		if len(works) == 0 {
			break
		}
		for _, w := range works {
			scanned++
			res.Scanned++
			before = w.ID
			if seen[w.UUID] {
				continue
			}
			var sub liveSub
			if json.Unmarshal(w.Payload, &sub) != nil || !matchesIP(sub.Observables, ip) {
				continue
			}
			res.Rows = append(res.Rows, storedView(&w, &sub, d.kindOf(w.Collector)))
			if len(res.Rows) >= limit {
				return res, nil
			}
		}
	}
	return res, nil
}

// storedView summarizes a submission read from the store.
func storedView(w *persistence.StoredWork, sub *liveSub, kind string) *RowView {
	rv := &RowView{UUID: w.UUID, Collector: w.Collector, Kind: kind, Stored: w.InsertDate, States: w.States}
	for g := range w.States {
		rv.Groups = append(rv.Groups, g)
	}
	slices.Sort(rv.Groups)
	summarize(rv, sub)
	return rv
}

// kindOf names the kind of the collector called name ("" when it is not
// configured now).
func (d *Daemon) kindOf(name string) string {
	for _, c := range d.cfg.Collectors {
		if c.Name == name {
			return c.Kind
		}
	}
	return ""
}

// Detail is what /live/submission/{uuid} answers: the row and the
// submission's observables, details and files.
type Detail struct {
	Row         *RowView          `json:"row"`
	Observables json.RawMessage   `json:"observables"`
	Details     json.RawMessage   `json:"details"`
	Files       []string          `json:"files"`
	Tags        []string          `json:"tags"`
	Type        string            `json:"type"`
	Source      string            `json:"source"` // "history" or "store"
	States      map[string]string `json:"states"`
}

// Detail returns the submission uuid from the history or the store; nil
// when neither has it (delivered and cleaned up, and older than the
// history).
func (d *Daemon) Detail(ctx context.Context, uuid string) (*Detail, error) {
	var sub liveSub
	if r, states := d.live.lookup(uuid); r != nil && r.payload != nil {
		if err := json.Unmarshal(r.payload, &sub); err != nil {
			return nil, fmt.Errorf("live: decoding submission %s: %w", uuid, err)
		}
		v, _ := r.summary()
		return detailOf(v, &sub, "history", states), nil
	}
	w, found, err := d.store.Lookup(ctx, uuid)
	if err != nil || !found {
		return nil, err
	}
	if err := json.Unmarshal(w.Payload, &sub); err != nil {
		return nil, fmt.Errorf("live: decoding stored submission %s: %w", uuid, err)
	}
	return detailOf(storedView(w, &sub, d.kindOf(w.Collector)), &sub, "store", w.States), nil
}

func detailOf(rv *RowView, sub *liveSub, source string, states map[string]string) *Detail {
	obs, _ := json.Marshal(sub.Observables)
	det := sub.Details
	if len(det) == 0 {
		det = json.RawMessage("{}")
	}
	out := &Detail{Row: rv, Observables: obs, Details: det, Tags: sub.Tags, Type: sub.Type, Source: source,
		States: states, Files: []string{}}
	for _, f := range sub.Files {
		out.Files = append(out.Files, f.Name)
	}
	return out
}

func (d *Daemon) serveSearch(w http.ResponseWriter, r *http.Request) {
	ip, err := netip.ParseAddr(r.URL.Query().Get("ip"))
	if err != nil {
		http.Error(w, "ip: not an IP address", http.StatusBadRequest)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > d.live.pageRows {
		limit = d.live.pageRows
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, err := d.Search(ctx, ip, limit)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSONResponse(w, res)
}

func (d *Daemon) serveDetail(w http.ResponseWriter, r *http.Request) {
	det, err := d.Detail(r.Context(), r.PathValue("uuid"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if det == nil {
		http.Error(w, "no such submission (delivered and cleaned up, or never stored)", http.StatusNotFound)
		return
	}
	writeJSONResponse(w, det)
}

func writeJSONResponse(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}
