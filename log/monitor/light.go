package monitor

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/tlogproof"
	"github.com/credlog/credlog/log/vmap"
)

// light is one light-mode poll after the checkpoint raw (cp) verified:
// for each watched item, the map proof against the latest map-root entry,
// and an alert for each event naming the item that the proof shows and
// that is neither known nor alerted before. Events are fetched, with
// their inclusion proofs, only when the map shows new ones.
func (m *Monitor) light(ctx context.Context, raw []byte, cp *log.Checkpoint) error {
	if m.st.Light == nil {
		m.st.Light = make(map[string]*Seen)
	}
	for _, it := range m.st.Watch {
		if err := m.lightItem(ctx, it, raw, cp); err != nil {
			return err
		}
	}
	m.accept(raw)
	return nil
}

func (m *Monitor) lightItem(ctx context.Context, it Item, raw []byte, cp *log.Checkpoint) error {
	var resp *api.MapProofResponse
	var err error
	if it.Kind == Subject {
		resp, err = m.cfg.Log.MapSubject(ctx, it.Issuer, entry.Hash(it.ID))
	} else {
		resp, err = m.cfg.Log.MapCredential(ctx, it.Issuer, entry.Hash(it.ID))
	}
	if api.IsStatus(err, http.StatusNotFound) {
		return nil // the log has no map-root entry yet: nothing to check
	}
	if err != nil {
		return fmt.Errorf("monitor: couldn't fetch the map proof of %s: %w", it, err)
	}
	if resp.MapRootProof == "" {
		return nil // no published checkpoint covers the map-root entry yet
	}
	prev := m.st.Light[it.String()]
	if prev != nil && resp.MapRootIndex < prev.MapRootIndex {
		return nil // an older map root (a lagging cache): nothing new
	}
	indices, err := m.verifyMapProof(ctx, it, resp, raw, cp)
	if err != nil {
		var bad *badProof
		if errors.As(err, &bad) {
			return m.raiseOnce(fmt.Sprintf("map %s %d", it, resp.MapRootIndex), &Alert{Alert: AlertMap,
				Message: fmt.Sprintf("the log's map proof of %s at map-root entry %d does not verify: %v", it, resp.MapRootIndex, bad.err),
				Item:    &it, Evidence: Evidence{MapProof: resp, Checkpoint: string(raw)}})
		}
		return err
	}
	if prev != nil {
		for _, i := range prev.Indices {
			if _, ok := slices.BinarySearch(indices, i); !ok && it.Kind == Subject {
				return m.raiseOnce(fmt.Sprintf("map %s %d", it, resp.MapRootIndex), &Alert{Alert: AlertMap,
					Message: fmt.Sprintf("the map proof of %s at map-root entry %d drops event %d that map-root entry %d showed",
						it, resp.MapRootIndex, i, prev.MapRootIndex),
					Item: &it, Evidence: Evidence{MapProof: resp, Checkpoint: string(raw)}})
			}
		}
	}
	var fresh []uint64
	for _, i := range indices {
		if !m.st.known(i) && !m.st.alerted(i) {
			fresh = append(fresh, i)
		}
	}
	if len(fresh) > 0 {
		if err := m.lightEvents(ctx, it, fresh, resp, raw, cp); err != nil {
			return err
		}
	}
	m.st.Light[it.String()] = &Seen{MapRootIndex: resp.MapRootIndex, Value: resp.Value, Indices: indices}
	return nil
}

// badProof is a map answer that does not verify: the log's fault.
type badProof struct{ err error }

func (b *badProof) Error() string { return b.err.Error() }

func bad(format string, args ...any) error { return &badProof{fmt.Errorf(format, args...)} }

// verifyMapProof checks a map answer: the map-root entry is signed by the
// log and included in a checkpoint of the policy that is consistent with
// raw; the map proof verifies under its root. It returns the indices of
// the events the proof shows naming the item, ascending: a subject's
// history, or a credential's issue and latest events.
func (m *Monitor) verifyMapProof(ctx context.Context, it Item, resp *api.MapProofResponse, raw []byte, cp *log.Checkpoint) ([]uint64, error) {
	p, err := tlogproof.Parse([]byte(resp.MapRootProof))
	if err != nil {
		return nil, bad("map-root proof: %v", err)
	}
	if p.Index != resp.MapRootIndex {
		return nil, bad("map-root proof is for index %d, not %d", p.Index, resp.MapRootIndex)
	}
	if err := m.checkProof(ctx, p, resp.MapRootEntry, raw, cp); err != nil {
		return nil, err
	}
	mr, err := entry.Parse(resp.MapRootEntry)
	if err != nil {
		return nil, bad("map-root entry: %v", err)
	}
	if mr.Type != entry.TypeMapRoot || mr.Issuer != m.origin() {
		return nil, bad("entry %d is a %s event of %q, not a map-root entry of this log", p.Index, mr.Type, mr.Issuer)
	}
	if k := m.cfg.Policy.Logs[0].Key; len(k) == 1+ed25519.PublicKeySize && k[0] == 0x01 {
		if err := mr.VerifySignature(ed25519.PublicKey(k[1:])); err != nil {
			return nil, bad("map-root entry: %v", err)
		}
	}
	id := entry.Hash(it.ID)
	if len(resp.Value) == 0 {
		key := vmap.CredentialKey(it.Issuer, id)
		if it.Kind == Subject {
			key = vmap.SubjectKey(it.Issuer, id)
		}
		if len(resp.Indices) != 0 {
			return nil, bad("absent %s with %d events", it.Kind, len(resp.Indices))
		}
		if err := vmap.VerifyAbsence(mr.MapRoot, key, resp.Proof); err != nil {
			return nil, bad("%v", err)
		}
		return nil, nil
	}
	if it.Kind == Subject {
		if _, err := vmap.VerifySubjectHistory(mr.MapRoot, it.Issuer, id, resp.Indices, resp.Value, resp.Proof); err != nil {
			return nil, bad("%v", err)
		}
		return slices.Clone(resp.Indices), nil
	}
	cv, err := vmap.VerifyCredential(mr.MapRoot, it.Issuer, id, resp.Value, resp.Proof)
	if err != nil {
		return nil, bad("%v", err)
	}
	if cv.LastIndex == cv.IssueIndex {
		return []uint64{cv.IssueIndex}, nil
	}
	return []uint64{cv.IssueIndex, cv.LastIndex}, nil
}

// checkProof checks a tlog-proof of e: its checkpoint is the log's,
// cosigned by the quorum, and consistent with raw (of cp), the checkpoint
// the monitor verified in this poll.
func (m *Monitor) checkProof(ctx context.Context, p *tlogproof.Proof, e, raw []byte, cp *log.Checkpoint) error {
	pol := m.cfg.Policy
	pcp, n, err := p.Verify(e, m.origin(), pol.Logs[0].Verifier, pol.WitnessVerifiers()...)
	if err != nil {
		return bad("%v", err)
	}
	if !pol.Satisfied(pol.Cosigners(n)) {
		return bad("proof checkpoint of size %d lacks the witness quorum", pcp.Size)
	}
	if bytes.Equal(p.Checkpoint, raw) {
		return nil
	}
	lo, hi := pcp, cp
	if lo.Size > hi.Size {
		lo, hi = hi, lo
	}
	if lo.Size == hi.Size {
		if !bytes.Equal(lo.Hash, hi.Hash) {
			return m.splitView(string(raw), p.Checkpoint, nil,
				fmt.Sprintf("the log signed two checkpoints of size %d with different roots", lo.Size))
		}
		return nil
	}
	hashes, err := m.cfg.Log.ConsistencyProof(ctx, lo.Size, hi.Size)
	if err != nil {
		return fmt.Errorf("monitor: couldn't fetch a consistency proof: %w", err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, lo.Size, hi.Size, hashes, lo.Hash, hi.Hash); err != nil {
		return m.splitView(string(raw), p.Checkpoint, hashes,
			fmt.Sprintf("checkpoints of sizes %d and %d are not consistent: %v", lo.Size, hi.Size, err))
	}
	return nil
}

// lightEvents fetches the events at indices naming it, with their
// inclusion proofs, and raises an alert for each that is not the holder's.
func (m *Monitor) lightEvents(ctx context.Context, it Item, indices []uint64, resp *api.MapProofResponse, raw []byte, cp *log.Checkpoint) error {
	var lr *api.LookupResponse
	var err error
	if it.Kind == Subject {
		lr, err = m.cfg.Log.LookupSubject(ctx, entry.Hash(it.ID))
	} else {
		lr, err = m.cfg.Log.LookupCredential(ctx, entry.Hash(it.ID))
	}
	if err != nil {
		return fmt.Errorf("monitor: couldn't look up %s: %w", it, err)
	}
	byIndex := make(map[uint64]api.LookupEvent, len(lr.Events))
	for _, e := range lr.Events {
		byIndex[e.Index] = e
	}
	for _, i := range indices {
		le, ok := byIndex[i]
		if !ok || le.Proof == "" {
			// The map shows the event but the lookup has no proof of it.
			return m.raiseOnce(fmt.Sprintf("map %s %d lookup %d", it, resp.MapRootIndex, i), &Alert{Alert: AlertMap,
				Message: fmt.Sprintf("the map shows event %d naming %s, but the log's lookup returns no proven entry for it", i, it),
				Item:    &it, Evidence: Evidence{MapProof: resp, Checkpoint: string(raw)}})
		}
		p, err := tlogproof.Parse([]byte(le.Proof))
		if err != nil {
			err = bad("proof: %v", err)
		} else if p.Index != i {
			err = bad("proof is for index %d", p.Index)
		}
		if err == nil {
			err = m.checkProof(ctx, p, le.Entry, raw, cp)
		}
		var ev *entry.Event
		if err == nil {
			if ev, err = entry.Parse(le.Entry); err != nil {
				err = bad("%v", err)
			} else if !it.matches(ev) {
				err = bad("entry %d does not name %s", i, it)
			}
		}
		var b *badProof
		if errors.As(err, &b) {
			return m.raiseOnce(fmt.Sprintf("map %s %d lookup %d", it, resp.MapRootIndex, i), &Alert{Alert: AlertMap,
				Message: fmt.Sprintf("the log's entry %d for %s does not verify: %v", i, it, b.err),
				Item:    &it, Evidence: Evidence{MapProof: resp, Entry: le.Entry, Proof: le.Proof}})
		}
		if err != nil {
			return err
		}
		if m.st.isOwn(ev) {
			continue
		}
		if err := m.eventAlert(it, i, le.Entry, ev, []byte(le.Proof), p.Checkpoint); err != nil {
			return err
		}
	}
	return nil
}
