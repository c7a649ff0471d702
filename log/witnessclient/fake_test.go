package witnessclient_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/witnessclient"
	"github.com/credlog/credlog/witness"
)

// fake is a hand-driven witness over HTTP on loopback, for answers that a
// correct witness never gives.
type fake struct {
	t        *testing.T
	srv      *httptest.Server
	vkey     string
	signer   note.Signer
	requests atomic.Int32
}

func newFake(t *testing.T, h http.HandlerFunc) *fake {
	f := &fake{t: t}
	f.signer, f.vkey = cosigner(t, "fake.example")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) policyLine(name string) string {
	return "witness " + name + " " + f.vkey + " " + f.srv.URL + "/\n"
}

func cosigner(t *testing.T, name string) (note.Signer, string) {
	skey, vkey, err := witness.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// cosign returns the signature line of s on the checkpoint in an
// add-checkpoint request.
func cosign(t *testing.T, s note.Signer, r *http.Request) []byte {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Error(err)
	}
	_, signed, _ := bytes.Cut(body, []byte("\n\n"))
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	b, err := note.Sign(&note.Note{Text: string(text) + "\n"}, s)
	if err != nil {
		t.Error(err)
	}
	return b[len(text)+2:]
}

// TestBadWitnesses: each wrong answer fails that witness with the right
// kind, and a quorum of it is not met.
func TestBadWitnesses(t *testing.T) {
	other, _ := cosigner(t, "other.example")
	var self *fake
	for _, tc := range []struct {
		name     string
		h        http.HandlerFunc
		kind     witnessclient.Kind
		requests int32
	}{
		{"another key", func(w http.ResponseWriter, r *http.Request) { w.Write(cosign(t, other, r)) }, witnessclient.KindBadResponse, 1},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") }, witnessclient.KindBadResponse, 1},
		{"empty", func(w http.ResponseWriter, r *http.Request) {}, witnessclient.KindBadResponse, 1},
		{"no newline", func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.TrimSuffix(cosign(t, self.signer, r), []byte("\n")))
		}, witnessclient.KindBadResponse, 1},
		{"bad signature", func(w http.ResponseWriter, r *http.Request) {
			line := cosign(t, self.signer, r)
			line[len(line)-3] ^= 'A' ^ 'B'
			w.Write(line)
		}, witnessclient.KindBadResponse, 1},
		{"409 without size type", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "5", http.StatusConflict)
		}, witnessclient.KindConflict, 1},
		{"409 leading zero", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, "05\n")
		}, witnessclient.KindConflict, 1},
		{"409 twice", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, "1\n")
		}, witnessclient.KindConflict, 2},
		{"400", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 400) }, witnessclient.KindBadRequest, 1},
		{"403", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 403) }, witnessclient.KindForbidden, 1},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 404) }, witnessclient.KindUnknownLog, 1},
		{"422", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 422) }, witnessclient.KindBadProof, 1},
		{"503", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 503) }, witnessclient.KindServerError, 1},
		{"redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) },
			witnessclient.KindStatus, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			self = newFake(t, tc.h)
			e := newEnv(t, 0, "all")
			e.policy = self.policyLine("w1") + "quorum w1\n"
			_, err := e.publish(e.client(nil), 3)
			var we *witnessclient.WitnessError
			if !errors.Is(err, witnessclient.ErrQuorum) || !errors.As(err, &we) || we.Kind != tc.kind {
				t.Fatalf("Publish: %v; want kind %s", err, tc.kind)
			}
			if n := self.requests.Load(); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

// TestExtraCosignatures: a witness may answer with cosignatures from keys
// the policy does not name; they are dropped, its own is kept.
func TestExtraCosignatures(t *testing.T) {
	other, _ := cosigner(t, "other.example")
	var f *fake
	f = newFake(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r2 := func() *http.Request { r.Body = io.NopCloser(bytes.NewReader(body)); return r }
		w.Write(cosign(t, other, r2()))
		w.Write(cosign(t, f.signer, r2()))
	})
	e := newEnv(t, 0, "all")
	e.policy = f.policyLine("w1") + "quorum w1\n"
	cp, err := e.publish(e.client(nil), 3)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(cp), "\n— "); n != 2 {
		t.Errorf("checkpoint has %d signatures, want the log's and w1's:\n%s", n, cp)
	}
	if strings.Contains(string(cp), "other.example") {
		t.Errorf("an unknown cosignature was kept:\n%s", cp)
	}
}

// TestRateLimited: after a 429 the witness is left alone until its
// Retry-After.
func TestRateLimited(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	})
	e := newEnv(t, 0, "all")
	e.policy = f.policyLine("w1") + "quorum none\n"
	c := e.client(nil)
	for range 3 {
		cp, err := e.publish(c, 3)
		if err != nil || strings.Count(string(cp), "\n— ") != 1 {
			t.Fatalf("quorum none: %q, %v", cp, err)
		}
	}
	if n := f.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if v := e.metric(`credlog_witness_request_errors_total{kind="rate_limited",witness="w1"}`); v != 3 {
		t.Errorf("rate_limited errors: %v", v)
	}
}
