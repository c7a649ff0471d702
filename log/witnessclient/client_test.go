package witnessclient_test

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	fwitness "github.com/transparency-dev/formats/witness"

	"github.com/credlog/credlog/log/witnessclient"
)

// TestQuorum: three credwitness witnesses, a 2-of-3 policy. With all up,
// the checkpoint carries all three cosignatures, which verify with
// transparency-dev/formats; the next checkpoint goes with a consistency
// proof from the size each witness cosigned.
func TestQuorum(t *testing.T) {
	e := newEnv(t, 3, "2")
	c := e.client(nil)
	for _, size := range []uint64{1, 5, 300, 300, 1000} {
		cp, err := e.publish(c, size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got := e.cosigners(cp); !slices.Equal(got, []int{0, 1, 2}) {
			t.Fatalf("size %d: cosigned by %v", size, got)
		}
		// The witness policy as transparency-dev/formats reads it agrees.
		g, err := fwitness.ParsePolicy([]byte(e.policy))
		if err != nil {
			t.Fatal(err)
		}
		if !g.Satisfied(cp) {
			t.Errorf("size %d: formats says the policy is not satisfied", size)
		}
		for i, w := range e.ws {
			if got, ok := w.Latest(origin); !ok || got != size {
				t.Errorf("witness %d cosigned %d, want %d", i+1, got, size)
			}
		}
	}
	if got := c.Sizes(); got["w1"] != 1000 || got["w2"] != 1000 || got["w3"] != 1000 {
		t.Errorf("sizes %v", got)
	}
	if v := e.metric(`credlog_witness_lag_entries{witness="w2"}`); v != 0 {
		t.Errorf("lag %v", v)
	}
	if v := e.metric(`credlog_witness_rounds_total{result="quorum"}`); v != 5 {
		t.Errorf("rounds %v", v)
	}
}

// TestOneDown: one witness of three down, the 2-of-3 quorum is still met.
func TestOneDown(t *testing.T) {
	e := newEnv(t, 3, "2")
	c := e.client(nil)
	if _, err := e.publish(c, 10); err != nil {
		t.Fatal(err)
	}
	e.ws[2].Stop()
	cp, err := e.publish(c, 20)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.cosigners(cp); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("cosigned by %v", got)
	}
	if v := e.metric(`credlog_witness_request_errors_total{kind="network",witness="w3"}`); v != 1 {
		t.Errorf("w3 network errors: %v", v)
	}
	if v := e.metric(`credlog_witness_lag_entries{witness="w3"}`); v != 10 {
		t.Errorf("w3 lag: %v", v)
	}
}

// TestFailClosed: with two of three witnesses down, the checkpoint is
// refused with a QuorumError naming each failure; when they come back,
// the next checkpoint is cosigned, with a proof from what each saw.
func TestFailClosed(t *testing.T) {
	e := newEnv(t, 3, "2")
	c := e.client(nil)
	if _, err := e.publish(c, 10); err != nil {
		t.Fatal(err)
	}
	e.ws[0].Stop()
	e.ws[2].Stop()
	cp, err := e.publish(c, 20)
	var qe *witnessclient.QuorumError
	if cp != nil || !errors.As(err, &qe) || !errors.Is(err, witnessclient.ErrQuorum) {
		t.Fatalf("Publish = %q, %v; want a QuorumError", cp, err)
	}
	if qe.Size != 20 || !slices.Equal(qe.Cosigned, []string{"w2"}) || len(qe.Failures) != 2 ||
		qe.Failures[0].Witness != "w1" || qe.Failures[1].Witness != "w3" || qe.Failures[0].Kind != witnessclient.KindNetwork {
		t.Fatalf("QuorumError %+v", qe)
	}
	for _, w := range e.ws {
		w.Stop()
	}
	if _, err := e.publish(c, 30); !errors.Is(err, witnessclient.ErrQuorum) {
		t.Fatalf("all down: %v", err)
	}
	for _, w := range e.ws {
		w.Start()
	}
	// w1 and w3 last cosigned 10, w2 20: each gets its own proof to 40.
	cp, err = e.publish(c, 40)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.cosigners(cp); len(got) != 3 {
		t.Fatalf("cosigned by %v", got)
	}
	if v := e.metric(`credlog_witness_rounds_total{result="no_quorum"}`); v != 2 {
		t.Errorf("no_quorum rounds: %v", v)
	}
}

// TestFailOpen: with every witness down, a fail-open client returns the
// checkpoint with no cosignature, and warns.
func TestFailOpen(t *testing.T) {
	e := newEnv(t, 3, "2")
	c := e.client(func(c *witnessclient.Config) { c.FailOpen = true })
	e.ws[0].Stop()
	e.ws[1].Stop()
	cp, err := e.publish(c, 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.cosigners(cp); !slices.Equal(got, []int{2}) {
		t.Fatalf("cosigned by %v, want w3 only", got)
	}
	if !strings.Contains(e.logs.String(), "level=WARN msg=\"publishing a checkpoint without the witness quorum (witness_fail_open)\"") {
		t.Errorf("no warning in:\n%s", e.logs)
	}
	if v := e.metric(`credlog_witness_rounds_total{result="fail_open"}`); v != 1 {
		t.Errorf("fail_open rounds: %v", v)
	}
}

// TestConflictCorrection: a witness that cosigned more than the client
// knows (another client of the same log), one that lost its state, and a
// client that starts with no memory each get a 409 with the witness's
// size, and one immediate retry with the corrected size succeeds.
func TestConflictCorrection(t *testing.T) {
	e := newEnv(t, 3, "all")
	c := e.client(nil)
	if _, err := e.publish(c, 5); err != nil {
		t.Fatal(err)
	}
	// w1 moves on to 8 without the client.
	e.log.growTo(8)
	if code := e.log.addCheckpoint(e.ws[0].URL(), 5, 8); code != http.StatusOK {
		t.Fatalf("direct add-checkpoint: %d", code)
	}
	// w2 loses its state.
	e.ws[1].Wipe()
	if _, ok := e.ws[1].Latest(origin); ok {
		t.Fatal("wiped witness kept its state")
	}
	cp, err := e.publish(c, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.cosigners(cp); len(got) != 3 {
		t.Fatalf("cosigned by %v", got)
	}
	for _, w := range []string{"w1", "w2"} {
		if v := e.metric(`credlog_witness_requests_total{code="409",witness="` + w + `"}`); v != 1 {
			t.Errorf("%s: %v 409 answers, want 1", w, v)
		}
		if v := e.metric(`credlog_witness_requests_total{code="200",witness="` + w + `"}`); v != 2 {
			t.Errorf("%s: %v 200 answers, want 2", w, v)
		}
	}
	if v := e.metric(`credlog_witness_requests_total{code="409",witness="w3"}`); v != -1 {
		t.Errorf("w3: %v 409 answers, want none", v)
	}
	if !strings.Contains(e.logs.String(), `msg="witness corrected the log's view of its size" witness=w1 was=5 size=8`) ||
		!strings.Contains(e.logs.String(), `msg="witness corrected the log's view of its size" witness=w2 was=5 size=0`) {
		t.Errorf("corrections not logged:\n%s", e.logs)
	}

	// A client restarted with no memory of the witnesses.
	fresh := e.client(nil)
	if _, err := e.publish(fresh, 12); err != nil {
		t.Fatal(err)
	}
	if got := fresh.Sizes(); got["w1"] != 12 || got["w2"] != 12 || got["w3"] != 12 {
		t.Errorf("sizes %v", got)
	}
}

// TestWitnessAhead: a witness that cosigned a larger tree than the
// checkpoint (the log lost entries, or someone else signs for it) cannot
// be given a proof: the client corrects its size, does not retry, and
// reports it.
func TestWitnessAhead(t *testing.T) {
	e := newEnv(t, 1, "all")
	if _, err := e.publish(e.client(nil), 10); err != nil {
		t.Fatal(err)
	}
	c := e.client(nil)
	_, err := c.Publish(t.Context(), 6, e.log.checkpoint(6))
	var we *witnessclient.WitnessError
	if !errors.As(err, &we) || we.Kind != witnessclient.KindAhead {
		t.Fatalf("Publish: %v; want a KindAhead failure", err)
	}
	if got := c.Sizes()["w1"]; got != 10 {
		t.Errorf("remembered size %d, want 10", got)
	}
	if !strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("not logged as an error:\n%s", e.logs)
	}
	// Nothing was sent after the 409: no request without a proof.
	_, err = c.Publish(t.Context(), 6, e.log.checkpoint(6))
	if !errors.As(err, &we) || we.Kind != witnessclient.KindAhead {
		t.Fatalf("second Publish: %v", err)
	}
	if v := e.metric(`credlog_witness_requests_total{code="409",witness="w1"}`); v != 1 {
		t.Errorf("%v 409 answers, want 1", v)
	}
	if v := e.metric(`credlog_witness_lag_entries{witness="w1"}`); v != -4 {
		t.Errorf("lag %v, want -4", v)
	}
	// Once the log has grown past it, the witness follows again.
	if _, err := e.publish(c, 11); err != nil {
		t.Fatal(err)
	}
}

// TestGrace: once the quorum is met, a hanging witness is given the grace
// period, not the whole timeout.
func TestGrace(t *testing.T) {
	e := newEnv(t, 2, "2")
	hang := newFake(t, hangingHandler)
	e.policy = strings.Replace(e.policy, "group g 2 w1 w2", hang.policyLine("w3")+"group g 2 w1 w2 w3", 1)
	c := e.client(func(c *witnessclient.Config) { c.Timeout, c.Grace = time.Minute, 50*time.Millisecond })
	start := time.Now()
	cp, err := e.publish(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Publish took %v", d)
	}
	if got := e.cosigners(cp); len(got) != 2 {
		t.Errorf("cosigned by %v", got)
	}
	if v := e.metric(`credlog_witness_request_errors_total{kind="cancelled",witness="w3"}`); v != 1 {
		t.Errorf("cancelled: %v", v)
	}
}

// TestTimeout: a witness that does not answer within the timeout fails
// the round, and it is a timeout.
func TestTimeout(t *testing.T) {
	e := newEnv(t, 0, "all")
	hang := newFake(t, hangingHandler)
	e.policy = "witness w1 " + hang.vkey + " " + hang.srv.URL + "\nquorum w1\n"
	c := e.client(func(c *witnessclient.Config) { c.Timeout = 100 * time.Millisecond })
	_, err := e.publish(c, 3)
	var we *witnessclient.WitnessError
	if !errors.As(err, &we) || we.Kind != witnessclient.KindTimeout {
		t.Fatalf("Publish: %v", err)
	}
}

// hangingHandler reads the request and never answers. (The server notices
// a closed connection only once the body is read.)
func hangingHandler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}
