package main

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

// eventTime is the time, validity start and signing time of every
// generated event (2026-01-01T00:00:00Z): fixed, so that a seed always
// yields the same bytes.
const eventTime = 1767225600

// credentialID returns the credential ID of event i of seed.
func credentialID(seed string, i int) entry.Hash {
	return sha256.Sum256(fmt.Appendf(nil, "credload credential\x00%s\x00%d", seed, i))
}

// subjectLabel returns the subject label of event i of seed. A real
// label is a VRF output; the log cannot tell the difference.
func subjectLabel(seed string, i int) entry.Hash {
	return sha256.Sum256(fmt.Appendf(nil, "credload subject\x00%s\x00%d", seed, i))
}

// issueEvent returns event i of seed, signed by s: the issue of a new
// credential to a new subject, version 1, valid for a year.
func issueEvent(s *keys.Signer, seed string, i int) ([]byte, error) {
	ev := &entry.Event{
		Type: entry.TypeIssue, Issuer: s.Name(), KeyID: s.KeyID(), Time: eventTime,
		Subject: subjectLabel(seed, i), Credential: credentialID(seed, i),
		NotBefore: eventTime, NotAfter: eventTime + 365*86400, Version: 1,
	}
	if err := ev.Sign(s.PrivateKey()); err != nil {
		return nil, fmt.Errorf("couldn't sign event %d: %w", i, err)
	}
	return ev.Marshal()
}

// signEvents returns events first to first+n-1 of seed, signed on every
// CPU.
func signEvents(s *keys.Signer, seed string, first, n int) ([][]byte, error) {
	out := make([][]byte, n)
	workers := min(runtime.GOMAXPROCS(0), n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if out[i], errs[w] = issueEvent(s, seed, first+i); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// request is one prepared submission: its body and how many events it
// carries, starting at event first of the run.
type request struct {
	body  []byte
	first int
	n     int
}

// buildRequests groups events into request bodies: each event alone for
// POST /events when batch is 1, else uint16 length-prefixed batches of up
// to batch events for POST /events/batch.
func buildRequests(events [][]byte, batch int) []request {
	var out []request
	for i := 0; i < len(events); i += batch {
		j := min(i+batch, len(events))
		if batch == 1 {
			out = append(out, request{body: events[i], first: i, n: 1})
			continue
		}
		var body []byte
		for _, e := range events[i:j] {
			body = api.AppendBatch(body, e)
		}
		out = append(out, request{body: body, first: i, n: j - i})
	}
	return out
}
