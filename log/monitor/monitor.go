// Package monitor follows a credlog log on behalf of a holder and raises
// an alert, with signed evidence, when something happens to what the
// holder watches or when the log misbehaves. It is the library of
// `credlog monitor`.
//
// A holder watches subject labels and credential IDs. Every event naming
// a watched item raises an alert, unless the holder has marked it as
// their own: the issue event of a credential the holder holds is known
// from the start ([State.AddOwn]), and any other event becomes known once
// authorized ([State.Authorize]). So a secret second credential for the
// holder's subject, or a revocation or suspension of their credential,
// reaches the holder as soon as it is logged.
//
// Each poll starts from the log's latest checkpoint, which must be signed
// by the log of the policy (c2sp.org/tlog-policy) and cosigned by its
// witness quorum, and consistent with the last checkpoint the monitor
// verified. A checkpoint of the same size with another root, or one that
// no consistency proof links to the last, is a split view: the alert
// carries both signed checkpoints, which together prove it.
//
// In full mode the monitor replays every entry (package replay): the tree
// root, the issuer signatures, the state rules and every map-root entry.
// In light mode, for a phone, it fetches only the map proofs of the
// watched items and a consistency proof per checkpoint, and compares each
// item's verified map value with the last one it saw.
package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/replay"
	"github.com/credlog/credlog/log/tlogproof"
	"github.com/credlog/credlog/log/witnessclient/policy"
)

// The kinds of alerts.
const (
	// AlertEvent: an event names a watched item and is not known.
	AlertEvent = "event"
	// AlertSplitView: the log signed two checkpoints that cannot both be
	// true (same size and different roots, or no consistency between
	// them), or served entries that do not give its signed root.
	AlertSplitView = "split-view"
	// AlertQuorum: the log's latest checkpoint lacks the policy's witness
	// quorum; the monitor does not move to it.
	AlertQuorum = "quorum"
	// AlertViolation: a logged entry breaks a state rule, does not parse,
	// is not signed by its issuer, or a map-root entry commits to a wrong
	// map root. The log should never have appended it.
	AlertViolation = "violation"
	// AlertMap: a map proof the log served does not verify, or
	// contradicts an earlier one.
	AlertMap = "map"
)

// Alert is one alert, written as one JSON line.
type Alert struct {
	Alert   string    `json:"alert"`
	Time    time.Time `json:"time"`
	Origin  string    `json:"origin"`
	Message string    `json:"message"`
	// Item is the watched item, for event alerts.
	Item *Item `json:"item,omitempty"`
	// Index is the entry's index, for event and violation alerts.
	Index *uint64 `json:"index,omitempty"`
	// Event describes the entry, for event and violation alerts.
	Event *EventSummary `json:"event,omitempty"`
	// Evidence is what proves the alert, checkable offline.
	Evidence Evidence `json:"evidence"`
}

// EventSummary is the readable part of an alerted entry.
type EventSummary struct {
	Type       string `json:"type"`
	Issuer     string `json:"issuer"`
	Time       int64  `json:"time"`
	Subject    *Hash  `json:"subject,omitempty"`
	Credential *Hash  `json:"credential,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Evidence is signed material: each field verifies against the log's key
// (and the witnesses' keys) alone.
type Evidence struct {
	// Entry is the entry's bytes (base64 in JSON).
	Entry []byte `json:"entry,omitempty"`
	// Proof is a tlog-proof@v1 of Entry in Checkpoint.
	Proof string `json:"proof,omitempty"`
	// Checkpoint is the signed checkpoint the alert is about.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Previous is an earlier signed checkpoint that Checkpoint
	// contradicts, for split views.
	Previous string `json:"previous,omitempty"`
	// ConsistencyProof is the proof the log served between Previous and
	// Checkpoint, which does not verify (base64 hashes).
	ConsistencyProof [][]byte `json:"consistency_proof,omitempty"`
	// MapProof is the log's map answer, for light-mode alerts.
	MapProof *api.MapProofResponse `json:"map_proof,omitempty"`
}

func summarize(ev *entry.Event) *EventSummary {
	s := &EventSummary{Type: ev.Type.String(), Issuer: ev.Issuer, Time: int64(ev.Time)}
	if ev.Subject != (entry.Hash{}) {
		h := Hash(ev.Subject)
		s.Subject = &h
	}
	if ev.Credential != (entry.Hash{}) {
		h := Hash(ev.Credential)
		s.Credential = &h
	}
	if ev.Reason != 0 {
		s.Reason = ev.Reason.String()
	}
	return s
}

// Config configures a Monitor.
type Config struct {
	// Log is the client of the log's HTTP API.
	Log *api.Client
	// Policy names the log's key, the witnesses and the quorum.
	Policy *policy.Policy
	// Light selects light mode.
	Light bool
	// Alert receives every alert, once. An error stops the poll before the
	// state moves past the alert, so that it is raised again next time.
	Alert func(*Alert) error
	// Now is the clock of alerts; time.Now if nil.
	Now func() time.Time
	// Fetcher reads the log's tiles and entry bundles, in full mode;
	// tessera's client.HTTPFetcher is one.
	Fetcher replay.Fetcher
}

// Monitor follows one log. It is not safe for concurrent use.
type Monitor struct {
	cfg   Config
	st    *State
	full  *fullMode // nil in light mode
	alert int       // alerts raised by the current poll
}

// New returns a monitor whose state is st; the caller saves st after
// each Poll.
func New(cfg Config, st *State) (*Monitor, error) {
	if cfg.Log == nil || cfg.Policy == nil || cfg.Alert == nil {
		return nil, errors.New("monitor: Log, Policy and Alert are required")
	}
	if !cfg.Light && cfg.Fetcher == nil {
		return nil, errors.New("monitor: full mode needs a Fetcher")
	}
	if len(cfg.Policy.Logs) != 1 {
		return nil, fmt.Errorf("monitor: the policy names %d logs; a monitor follows exactly one", len(cfg.Policy.Logs))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Monitor{cfg: cfg, st: st}
	if !cfg.Light {
		m.full = newFullMode(m)
	}
	return m, nil
}

func (m *Monitor) origin() string { return m.cfg.Policy.Logs[0].Verifier.Name() }

// raise sends an alert.
func (m *Monitor) raise(a *Alert) error {
	a.Time = m.cfg.Now().UTC()
	a.Origin = m.origin()
	m.alert++
	return m.cfg.Alert(a)
}

// raiseOnce raises an alert about the log unless one with the same key
// was raised before.
func (m *Monitor) raiseOnce(key string, a *Alert) error {
	if m.st.raised(key) {
		return nil
	}
	if err := m.raise(a); err != nil {
		return err
	}
	m.st.Raised = append(m.st.Raised, key)
	return nil
}

// Poll checks the log once: its latest checkpoint, and what happened
// since the last poll. It returns the number of alerts raised. An error
// is a failure to check (the log is unreachable, say), not an alert; the
// state then stays where it was.
func (m *Monitor) Poll(ctx context.Context) (int, error) {
	m.alert = 0
	raw, err := m.cfg.Log.Checkpoint(ctx)
	if err != nil {
		return 0, fmt.Errorf("monitor: couldn't fetch the checkpoint: %w", err)
	}
	cp, ok, err := m.checkCheckpoint(ctx, raw)
	if errors.Is(err, errStop) {
		return m.alert, nil
	}
	if err != nil || !ok {
		return m.alert, err
	}
	if m.full != nil {
		err = m.full.advance(ctx, raw, cp)
	} else {
		err = m.light(ctx, raw, cp)
	}
	if errors.Is(err, errStop) {
		err = nil
	}
	return m.alert, err
}

// checkCheckpoint verifies the log's latest checkpoint against the
// policy and the last verified checkpoint. It reports whether the monitor
// may move to it; alerts say why not.
func (m *Monitor) checkCheckpoint(ctx context.Context, raw []byte) (*log.Checkpoint, bool, error) {
	_, cp, _, err := m.cfg.Policy.VerifyCheckpoint(raw)
	if errors.Is(err, policy.ErrQuorum) {
		return nil, false, m.raiseOnce("quorum "+string(raw), &Alert{Alert: AlertQuorum, Message: err.Error(),
			Evidence: Evidence{Checkpoint: string(raw)}})
	}
	if err != nil {
		return nil, false, fmt.Errorf("monitor: the log's checkpoint does not verify: %w", err)
	}
	if m.st.Checkpoint == "" {
		return cp, true, nil
	}
	_, prev, _, err := m.cfg.Policy.VerifyCheckpoint([]byte(m.st.Checkpoint))
	if err != nil {
		return nil, false, fmt.Errorf("monitor: the stored checkpoint does not verify (another policy?): %w", err)
	}
	switch {
	case cp.Size == prev.Size:
		if !bytes.Equal(cp.Hash, prev.Hash) {
			return nil, false, m.splitView(m.st.Checkpoint, raw, nil,
				fmt.Sprintf("the log signed two checkpoints of size %d with different roots", cp.Size))
		}
		return cp, true, nil
	case cp.Size < prev.Size:
		// A lagging mirror or cache may serve an older checkpoint; it
		// must be a prefix of the one verified.
		hashes, err := m.cfg.Log.ConsistencyProof(ctx, cp.Size, prev.Size)
		if err != nil {
			return nil, false, fmt.Errorf("monitor: couldn't fetch a consistency proof: %w", err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, cp.Size, prev.Size, hashes, cp.Hash, prev.Hash); err != nil {
			return nil, false, m.splitView(string(raw), []byte(m.st.Checkpoint), hashes,
				fmt.Sprintf("the log's checkpoint of size %d is not consistent with its checkpoint of size %d: %v", cp.Size, prev.Size, err))
		}
		return nil, false, nil
	}
	if m.full != nil {
		// Full mode checks consistency by replaying the entries.
		return cp, true, nil
	}
	hashes, err := m.cfg.Log.ConsistencyProof(ctx, prev.Size, cp.Size)
	if err != nil {
		return nil, false, fmt.Errorf("monitor: couldn't fetch a consistency proof: %w", err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, prev.Size, cp.Size, hashes, prev.Hash, cp.Hash); err != nil {
		return nil, false, m.splitView(m.st.Checkpoint, raw, hashes,
			fmt.Sprintf("the log's checkpoint of size %d is not consistent with its checkpoint of size %d: %v", cp.Size, prev.Size, err))
	}
	return cp, true, nil
}

// errStop ends a poll after an alert about the log itself: the monitor
// stays at its last verified checkpoint.
var errStop = errors.New("monitor: poll stopped by an alert about the log")

// splitView raises a split-view alert about two signed checkpoints, and
// returns errStop (or the error of raising the alert).
func (m *Monitor) splitView(prev string, cur []byte, hashes [][]byte, msg string) error {
	return m.stop(m.raiseOnce("split-view "+prev+"\x00"+string(cur), &Alert{Alert: AlertSplitView, Message: msg,
		Evidence: Evidence{Previous: prev, Checkpoint: string(cur), ConsistencyProof: hashes}}))
}

// stop returns errStop after an alert was raised without error.
func (m *Monitor) stop(err error) error {
	if err != nil {
		return err
	}
	return errStop
}

// eventAlert raises an alert for the event at index naming it, unless it
// is the holder's, known, or alerted before. raw is the entry, proof its
// tlog-proof in the signed checkpoint.
func (m *Monitor) eventAlert(it Item, index uint64, raw []byte, ev *entry.Event, proof, checkpoint []byte) error {
	if m.st.known(index) || m.st.isOwn(ev) || m.st.alerted(index) {
		return nil
	}
	a := &Alert{Alert: AlertEvent, Item: &it, Index: &index, Event: summarize(ev),
		Message:  fmt.Sprintf("%s event at index %d names watched %s", ev.Type, index, it),
		Evidence: Evidence{Entry: raw, Proof: string(proof), Checkpoint: string(checkpoint)}}
	if err := m.raise(a); err != nil {
		return err
	}
	m.st.Alerted = insertSorted(m.st.Alerted, index)
	return nil
}

// inclusion returns a tlog-proof of raw at index in the tree of the
// signed checkpoint, with a proof the log serves and that is verified
// here.
func (m *Monitor) inclusion(ctx context.Context, index uint64, raw, checkpoint []byte, size uint64, root []byte) ([]byte, error) {
	hashes, err := m.cfg.Log.InclusionProof(ctx, index, size)
	if err != nil {
		return nil, fmt.Errorf("monitor: couldn't fetch the inclusion proof of entry %d: %w", index, err)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(raw)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf, hashes, root); err != nil {
		return nil, fmt.Errorf("monitor: the log's inclusion proof of entry %d does not verify: %w", index, err)
	}
	return (&tlogproof.Proof{Index: index, Hashes: hashes, Checkpoint: checkpoint}).Marshal(), nil
}

// accept makes raw the last verified checkpoint.
func (m *Monitor) accept(raw []byte) { m.st.Checkpoint = string(raw) }

// watched returns the watched items ev names.
func (m *Monitor) watched(ev *entry.Event) []Item {
	var out []Item
	for _, it := range m.st.Watch {
		if it.matches(ev) {
			out = append(out, it)
		}
	}
	return out
}
