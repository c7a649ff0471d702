// Package witnessclient is the log side of c2sp.org/tlog-witness: it gets
// each checkpoint the log signs cosigned by the witnesses of a
// c2sp.org/tlog-policy (package [policy]), and lets the log publish it only
// once the policy's quorum is met.
//
// # Protocol
//
// For each checkpoint, [Client.Publish] calls every witness of the policy
// that has a URL, in parallel: POST <url>/add-checkpoint with "old N", the
// consistency proof from N to the checkpoint's size (built from the log's
// own tiles, [TileProofs]), a blank line, and the signed checkpoint. N is
// the size that the witness last cosigned, as far as the client knows: kept
// in memory, 0 on first contact (trust on first use: a witness that already
// knows the log answers 409 with its size), and corrected from 409 replies
// (Content-Type text/x.tlog.size, body "N\n"), after which the request is
// retried once, at once. Each cosignature returned is verified with the
// witness's key from the policy (transparency-dev/formats cosignature/v1
// verifiers) before it is appended to the checkpoint.
//
// # Fail-closed
//
// Publish returns an error, a [*QuorumError], unless the verified
// cosignatures meet the quorum. Used as sequencer.Config.Publish, that holds
// publication back: the log keeps accepting entries and making them
// durable, and a later attempt, with a larger checkpoint, catches up once
// enough witnesses answer. With [Config.FailOpen], Publish instead returns
// the checkpoint with the cosignatures it got and logs a warning: the
// operator's choice of availability over split-view protection.
//
// # Timing
//
// The requests of one round share [Config.Timeout]. Once the quorum is met,
// slower witnesses get [Config.Grace] more to answer and are then
// cancelled, so one hanging witness does not delay every publication by
// the whole timeout.
package witnessclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/witnessclient/policy"
)

// Defaults of [Config].
const (
	DefaultTimeout = 10 * time.Second
	DefaultGrace   = 500 * time.Millisecond
)

// maxWitnesses bounds the witnesses called: a signed note carries at most
// 100 signatures, one of them the log's.
const maxWitnesses = 99

// Config configures a [Client]. Zero values take the defaults shown.
type Config struct {
	// Policy lists the witnesses and the quorum. Required. If it lists
	// logs, it must list this one.
	Policy *policy.Policy
	// LogKey is the log's signed-note verifier key; its name is the log's
	// origin. Required.
	LogKey string
	// Proofs builds consistency proofs of the log. Required if the policy
	// has witnesses with URLs.
	Proofs ProofSource
	// Timeout bounds one round of requests (default [DefaultTimeout]).
	Timeout time.Duration
	// Grace is how long slower witnesses may still answer once the quorum
	// is met (default [DefaultGrace]).
	Grace time.Duration
	// FailOpen publishes checkpoints without the quorum, with the
	// cosignatures obtained, and logs a warning. Default false: fail-closed.
	FailOpen bool
	// HTTPClient makes the requests (default: a client with keep-alive
	// connections that does not follow redirects).
	HTTPClient *http.Client
	// Logger receives diagnostics (default slog.Default()).
	Logger *slog.Logger
	// Metrics, if set, receives the client's measurements.
	Metrics *Metrics
}

// Client gets checkpoints cosigned. It is safe for concurrent use.
type Client struct {
	policy    *policy.Policy
	origin    string
	logV      note.Verifier
	verifiers note.Verifiers // the log's and the called witnesses' keys
	witnesses []*witness     // in policy order
	proofs    ProofSource
	timeout   time.Duration
	grace     time.Duration
	failOpen  bool
	hc        *http.Client
	log       *slog.Logger
	m         *Metrics
}

// New returns a Client. It refuses a policy whose quorum cannot be met by
// the witnesses that have URLs, or that lists logs but not this one.
func New(cfg Config) (*Client, error) {
	if cfg.Policy == nil {
		return nil, errors.New("witnessclient: Policy is required")
	}
	logV, err := note.NewVerifier(cfg.LogKey)
	if err != nil {
		return nil, fmt.Errorf("witnessclient: log key %q: %w", cfg.LogKey, err)
	}
	if err := checkLogListed(cfg.Policy, cfg.LogKey); err != nil {
		return nil, err
	}
	c := &Client{
		policy: cfg.Policy, origin: logV.Name(), logV: logV, proofs: cfg.Proofs,
		timeout: cfg.Timeout, grace: cfg.Grace, failOpen: cfg.FailOpen,
		hc: cfg.HTTPClient, log: cfg.Logger, m: cfg.Metrics,
	}
	c.setDefaults()
	reachable := map[string]bool{}
	vs := []note.Verifier{logV}
	for _, pw := range cfg.Policy.Witnesses {
		if pw.URL == "" {
			continue
		}
		u, err := url.JoinPath(pw.URL, "add-checkpoint")
		if err != nil {
			return nil, fmt.Errorf("witnessclient: witness %q URL: %w", pw.Name, err)
		}
		c.witnesses = append(c.witnesses, &witness{name: pw.Name, url: u, v: pw.Verifier})
		vs = append(vs, pw.Verifier)
		reachable[pw.Name] = true
		c.m.size.WithLabelValues(pw.Name).Set(0)
	}
	if len(c.witnesses) > maxWitnesses {
		return nil, fmt.Errorf("witnessclient: %d witnesses with URLs, more than the %d a checkpoint can carry", len(c.witnesses), maxWitnesses)
	}
	if !cfg.Policy.Satisfied(reachable) {
		return nil, fmt.Errorf("witnessclient: quorum %q cannot be met by the witnesses that have URLs (%s)",
			cfg.Policy.Quorum, strings.Join(slices.Sorted(maps.Keys(reachable)), " "))
	}
	if len(c.witnesses) > 0 && c.proofs == nil {
		return nil, errors.New("witnessclient: Proofs is required")
	}
	c.verifiers = note.VerifierList(vs...)
	return c, nil
}

func (c *Client) setDefaults() {
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.grace <= 0 {
		c.grace = DefaultGrace
	}
	if c.hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 4
		c.hc = &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.m == nil {
		c.m = NewMetrics(nil)
	}
}

// checkLogListed checks that a policy that lists logs lists this one: a
// policy meant for another log is a configuration mistake.
func checkLogListed(p *policy.Policy, vkey string) error {
	if len(p.Logs) == 0 {
		return nil
	}
	for _, l := range p.Logs {
		if sameKey(l.VKey, vkey) {
			return nil
		}
	}
	return fmt.Errorf("witnessclient: the policy lists %d log(s), but not this log's key %s", len(p.Logs), vkey)
}

// sameKey reports whether two Ed25519 vkeys have the same name and key.
func sameKey(a, b string) bool {
	an, _, ak := splitKey(a)
	bn, _, bk := splitKey(b)
	return an == bn && ak == bk && ak != ""
}

func splitKey(vkey string) (name, id, key string) {
	name, rest, _ := strings.Cut(vkey, "+")
	id, key, _ = strings.Cut(rest, "+")
	return name, id, key
}

// Origin returns the log's origin.
func (c *Client) Origin() string { return c.origin }

// Sizes returns, for each called witness by policy name, the tree size it
// last cosigned as far as the client knows.
func (c *Client) Sizes() map[string]uint64 {
	m := make(map[string]uint64, len(c.witnesses))
	for _, w := range c.witnesses {
		w.mu.Lock()
		m[w.name] = w.size
		w.mu.Unlock()
	}
	return m
}

// Publish gets the log's signed checkpoint of the given size cosigned and
// returns it with the witnesses' verified cosignatures appended, in policy
// order. It has the signature of sequencer.Config.Publish.
//
// It returns a [*QuorumError] when the cosignatures do not meet the
// policy's quorum, unless the client fails open; then it returns the
// checkpoint with the cosignatures it got, and logs a warning.
func (c *Client) Publish(ctx context.Context, size uint64, signed []byte) ([]byte, error) {
	cp, _, _, err := log.ParseCheckpoint(signed, c.origin, c.logV)
	if err != nil {
		return nil, fmt.Errorf("witnessclient: couldn't open the log's checkpoint: %w", err)
	}
	if cp.Size != size {
		return nil, fmt.Errorf("witnessclient: checkpoint has size %d, not %d", cp.Size, size)
	}
	cosigs, failures := c.round(ctx, size, signed)

	out := bytes.Clone(signed)
	cosigned := map[string]bool{}
	var names []string
	for _, w := range c.witnesses {
		if s, ok := cosigs[w.name]; ok {
			out = append(out, s...)
			cosigned[w.name] = true
			names = append(names, w.name)
		}
	}
	if n, err := note.Open(out, c.verifiers); err != nil || len(n.Sigs) != 1+len(names) {
		return nil, fmt.Errorf("witnessclient: the cosigned checkpoint does not verify (%d signatures): %w", len(names), err)
	}
	if c.policy.Satisfied(cosigned) {
		c.m.rounds.WithLabelValues("quorum").Inc()
		c.log.Debug("checkpoint cosigned", "size", size, "cosigned", names)
		return out, nil
	}
	qe := &QuorumError{Size: size, Quorum: c.policy.Quorum, Cosigned: names, Failures: failures}
	if !c.failOpen {
		c.m.rounds.WithLabelValues("no_quorum").Inc()
		return nil, qe
	}
	c.m.rounds.WithLabelValues("fail_open").Inc()
	c.log.Warn("publishing a checkpoint without the witness quorum (witness_fail_open)", "size", size,
		"cosigned", names, "err", qe)
	return out, nil
}

// round calls every witness in parallel and returns the verified
// cosignature lines, by witness name, and the failures in policy order.
func (c *Client) round(ctx context.Context, size uint64, signed []byte) (map[string][]byte, []*WitnessError) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	proofs := newProofCache(c.proofs, size)
	type result struct {
		w     *witness
		cosig []byte
		err   *WitnessError
	}
	results := make(chan result, len(c.witnesses))
	for _, w := range c.witnesses {
		go func() {
			cosig, err := c.add(ctx, w, size, signed, proofs)
			results <- result{w, cosig, err}
		}()
	}
	cosigs := map[string][]byte{}
	errs := map[string]*WitnessError{}
	var grace *time.Timer
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	for range c.witnesses {
		r := <-results
		c.observe(r.w, size, r.err)
		if r.err != nil {
			errs[r.w.name] = r.err
			continue
		}
		cosigs[r.w.name] = r.cosig
		if grace == nil && len(cosigs) < len(c.witnesses) && c.policy.Satisfied(keysOf(cosigs)) {
			// Quorum: the others get a little longer, not the whole timeout.
			grace = time.AfterFunc(c.grace, cancel)
		}
	}
	var failures []*WitnessError
	for _, w := range c.witnesses {
		if e := errs[w.name]; e != nil {
			failures = append(failures, e)
		}
	}
	return cosigs, failures
}

func keysOf(m map[string][]byte) map[string]bool {
	s := make(map[string]bool, len(m))
	for k := range m {
		s[k] = true
	}
	return s
}

// observe records a witness's result in the metrics and the log.
func (c *Client) observe(w *witness, size uint64, err *WitnessError) {
	w.mu.Lock()
	ws := w.size
	w.mu.Unlock()
	c.m.lag.WithLabelValues(w.name).Set(float64(size) - float64(ws))
	if err == nil {
		return
	}
	c.m.errors.WithLabelValues(w.name, string(err.Kind)).Inc()
	switch err.Kind {
	case KindCancelled:
		c.log.Debug("witness request cancelled", "witness", w.name, "size", size, "err", err.Err)
	case KindAhead:
		c.log.Error("witness cosigned a larger tree than the log's checkpoint: the log lost entries, or another signer uses its key",
			"witness", w.name, "witness_size", ws, "size", size)
	default:
		c.log.Warn("witness did not cosign", "witness", w.name, "size", size, "kind", err.Kind, "err", err.Err)
	}
}
