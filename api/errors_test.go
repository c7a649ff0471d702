package api

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestWriteErrorClientGone: an error that lost the context's error from
// its chain (a library formatted it with %v) is answered 503 and not
// logged as an internal error when the request's context is done; the
// same error on a live request is a logged 500.
func TestWriteErrorClientGone(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{logger: slog.New(slog.NewTextHandler(&logs, nil))}
	err := errors.New("couldn't build inclusion proof: failed to fetch tile: context canceled")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	s.writeError(w, httptest.NewRequest(http.MethodGet, "/proof/inclusion", nil).WithContext(ctx), err)
	if w.Code != http.StatusServiceUnavailable || logs.Len() != 0 {
		t.Errorf("cancelled request: status %d, logged %q; want 503 and nothing logged", w.Code, logs.String())
	}

	w = httptest.NewRecorder()
	s.writeError(w, httptest.NewRequest(http.MethodGet, "/proof/inclusion", nil), err)
	if w.Code != http.StatusInternalServerError || !strings.Contains(logs.String(), "internal error") {
		t.Errorf("live request: status %d, logged %q; want a logged 500", w.Code, logs.String())
	}
}

// TestTwoServersOneRegistry: two servers of one process, on one registry,
// count their requests into the same series (an instance sharing a
// database runs a read server and, while it sequences, another).
func TestTwoServersOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewServer(Config{Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	b := NewServer(Config{Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	for _, s := range []*Server{a, b, b} {
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/no/such/route", nil))
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/proof/inclusion?size=x", nil))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() == "credlog_http_requests_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	if total != 3 {
		t.Errorf("credlog_http_requests_total sums to %v over both servers, want 3 (the routed requests)", total)
	}
}
