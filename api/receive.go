package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
	"unicode/utf8"
)

// maxAnalysisBytes caps the in-memory `analysis` JSON field.
const maxAnalysisBytes = 64 << 20

// httpError is a rejection with ACE's status and plain-text message.
type httpError struct {
	code       int
	msg        string
	cause      error // logged, never sent
	retryAfter int   // seconds; sent as Retry-After when set
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.msg) }

func badRequest(format string, a ...any) *httpError {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	st, err := newStaging(s.opts.Dir, !s.opts.NoSync)
	if err != nil {
		s.reject(w, r, &httpError{code: http.StatusInternalServerError, msg: "unable to allocate storage - review the logs"}, err)
		return
	}
	committed := false
	defer func() {
		if !committed {
			st.discard(s.log)
		}
	}()

	analysis, herr := readForm(w, r, s.opts.MaxBodyBytes, st)
	if herr != nil {
		s.reject(w, r, herr, nil)
		return
	}
	rec, herr := decodeAnalysis(analysis, s.opts.CompanyName, r.RemoteAddr)
	if herr != nil {
		s.reject(w, r, herr, nil)
		return
	}
	if rec.SubmissionUUID == "" {
		rec.SubmissionUUID = r.Header.Get(SubmissionUUIDHeader)
	}
	rec.UUID = st.uuid
	rec.ReceivedAt = time.Now().UTC()
	if err := s.commit(r.Context(), st, rec); err != nil {
		var herr *httpError
		if errors.As(err, &herr) {
			s.reject(w, r, herr, nil)
			return
		}
		s.reject(w, r, &httpError{code: http.StatusInternalServerError,
			msg: "an error occured trying to save the alert - review the logs"}, err)
		return
	}
	committed = true
	s.count.Add(1)
	var size int64
	for _, f := range rec.Files {
		size += f.Size
	}
	s.log.Info("submission received", "uuid", rec.UUID, "submission_uuid", rec.SubmissionUUID,
		"description", truncate(rec.Description, 200), "observables", len(rec.Observables),
		"files", len(rec.Files), "file_bytes", size, "remote", r.RemoteAddr, "took", time.Since(start))
	if s.opts.OnSubmit != nil {
		s.opts.OnSubmit(rec)
	}
	writeJSON(w, map[string]any{"result": map[string]any{"uuid": rec.UUID}})
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, herr *httpError, cause error) {
	if cause == nil {
		cause = herr.cause
	}
	if cause != nil {
		s.log.Error("submission failed", "status", herr.code, "error", cause, "remote", r.RemoteAddr)
	} else {
		s.log.Warn("submission rejected", "status", herr.code, "reason", truncate(herr.msg, 300), "remote", r.RemoteAddr)
	}
	w.Header().Set("Connection", "close") // the rest of a rejected body is not read
	if herr.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(herr.retryAfter))
	}
	http.Error(w, herr.msg, herr.code)
}

// readForm extracts the `analysis` value like Flask's request.values
// (multipart or url-encoded form, then the query string) and streams every
// `file` part into the staging dir.
func readForm(w http.ResponseWriter, r *http.Request, limit int64, st *staging) (string, *httpError) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var analysis string
	found := false
	switch ct {
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return "", badRequest("malformed multipart body: %v", err)
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return "", bodyError("malformed multipart body", err)
			}
			_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
			if err != nil {
				return "", badRequest("malformed multipart part header: %v", err)
			}
			name := params["name"]
			filename, isFile := params["filename"]
			switch {
			case isFile && name == "file":
				if herr := st.addFile(filename, part); herr != nil {
					return "", herr
				}
			case !isFile && name == "analysis" && !found:
				b, err := io.ReadAll(io.LimitReader(part, maxAnalysisBytes+1))
				if err != nil {
					return "", bodyError("reading the analysis field", err)
				}
				if len(b) > maxAnalysisBytes {
					return "", &httpError{code: http.StatusRequestEntityTooLarge,
						msg: fmt.Sprintf("analysis field is larger than %d bytes", maxAnalysisBytes)}
				}
				analysis, found = string(b), true
			default:
				if _, err := io.Copy(io.Discard, part); err != nil {
					return "", bodyError("reading multipart body", err)
				}
			}
		}
	case "application/x-www-form-urlencoded":
		// This body is parsed in memory and only carries the analysis
		// field (URL-encoding at most triples it).
		r.Body = http.MaxBytesReader(w, r.Body, min(limit, 3*maxAnalysisBytes+1024))
		if err := r.ParseForm(); err != nil {
			return "", bodyError("malformed form body", err)
		}
		if v, ok := r.PostForm["analysis"]; ok && len(v) > 0 {
			analysis, found = v[0], true
		}
	}
	if !found {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err == nil {
			if v, ok := q["analysis"]; ok && len(v) > 0 {
				analysis, found = v[0], true
			}
		}
	}
	if !found {
		return "", badRequest("missing analysis field (see documentation)")
	}
	return analysis, nil
}

// bodyError maps a failure to read the request body: too large → 413,
// too slow (the read deadline rateBody set passed) → 408, anything else
// (truncated upload, bad framing) → 400.
func bodyError(what string, err error) *httpError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &httpError{code: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &httpError{code: http.StatusRequestTimeout, msg: "request body arrived too slowly"}
	}
	return badRequest("%s: %v", what, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
