package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// maxAttempts bounds how many times one request re-reads the state after
// losing a compare-and-swap to a concurrent request.
const maxAttempts = 16

// Options configures a [Witness].
type Options struct {
	// Store holds the witness state. Required.
	Store Store
	// Cosigner signs cosignatures. Required.
	Cosigner *Cosigner
	// RequestsPerDay limits the add-checkpoint requests of each log, counted
	// once the log's signature verified. Zero means no limit.
	RequestsPerDay int
	// Logger receives the witness's logs; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the witness's metrics; nil means none.
	Registerer prometheus.Registerer
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
	// AlertURL, if set, receives each new piece of equivocation evidence
	// as a JSON POST (the [Evidence] object), in the background, besides
	// the error log line.
	AlertURL string
	// AlertClient sends alerts; nil means a client with a 10 s timeout.
	AlertClient *http.Client
}

// Witness checks and cosigns checkpoints (c2sp.org/tlog-witness).
type Witness struct {
	store    Store
	cosigner *Cosigner
	limiter  *limiter
	log      *slog.Logger
	metrics  *metrics
	now      func() time.Time
	alertURL string
	alertHC  *http.Client

	mu        sync.Mutex
	verifiers map[string]note.Verifiers // by origin; keys never change
}

// New returns a Witness.
func New(opts Options) (*Witness, error) {
	if opts.Store == nil || opts.Cosigner == nil {
		return nil, errors.New("witness: Store and Cosigner are required")
	}
	if opts.RequestsPerDay < 0 {
		return nil, errors.New("witness: RequestsPerDay must not be negative")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AlertClient == nil {
		opts.AlertClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &Witness{
		store:     opts.Store,
		cosigner:  opts.Cosigner,
		limiter:   newLimiter(opts.RequestsPerDay, opts.Now),
		log:       opts.Logger,
		metrics:   newMetrics(opts.Registerer),
		now:       opts.Now,
		alertURL:  opts.AlertURL,
		alertHC:   opts.AlertClient,
		verifiers: map[string]note.Verifiers{},
	}, nil
}

// AddCheckpoint processes an add-checkpoint request body and returns the
// witness's cosignature line(s) on the checkpoint.
//
// It checks, in this order: the framing and the checkpoint encoding
// ([ErrMalformed]); that the origin is a known log ([ErrUnknownLog]); that
// a trusted log key signed it and no trusted key's signature fails
// ([ErrUntrusted]); that the old size is not larger than the checkpoint
// size ([ErrMalformed]); the log's rate limit ([*RateLimitError]); that
// the old size is the latest cosigned size ([*ConflictError]); and
// consistency ([ErrNonEmptyRoot], [ErrRootMismatch], [ErrBadProof]).
//
// A log-signed checkpoint with the size of one the witness cosigned
// before, but another root hash, is stored as [Evidence] (and logged as an
// error) whatever else is wrong with the request.
//
// On success the new state is durable before AddCheckpoint returns. On any
// error the state is unchanged (except for new evidence).
func (w *Witness) AddCheckpoint(ctx context.Context, body []byte) ([]byte, error) {
	req, err := ParseRequest(body)
	if err != nil {
		return nil, err
	}
	text, err := openNote(req.Checkpoint)
	if err != nil {
		return nil, err
	}
	cp, err := parseCheckpoint(text)
	if err != nil {
		return nil, err
	}
	st, err := w.store.Log(ctx, cp.Origin)
	if errors.Is(err, ErrUnknownLog) {
		return nil, fmt.Errorf("%w %q", ErrUnknownLog, cp.Origin)
	}
	if err != nil {
		return nil, err
	}
	n, err := w.verify(st, req.Checkpoint)
	if err != nil {
		return nil, err
	}
	// The checkpoint is log-signed: evidence, if any, is kept whatever
	// else is wrong with the request.
	w.detectEquivocation(ctx, st, cp, req.Checkpoint)
	if req.OldSize > cp.Size {
		return nil, fmt.Errorf("%w: old size %d is larger than the checkpoint size %d", ErrMalformed, req.OldSize, cp.Size)
	}
	if ok, wait := w.limiter.allow(cp.Origin); !ok {
		w.metrics.rateLimited.WithLabelValues(cp.Origin).Inc()
		return nil, &RateLimitError{RetryAfter: wait}
	}
	for attempt := 1; ; attempt++ {
		if err := checkConsistency(st.Latest, req.OldSize, cp, req.Proof); err != nil {
			if errors.Is(err, ErrBadProof) {
				w.detectForkProof(ctx, st, req.OldSize, cp, req.Proof, req.Checkpoint)
			}
			return nil, err
		}
		cosig, err := w.advance(ctx, st.Latest, cp, n, req.Checkpoint)
		if !errors.Is(err, ErrStateChanged) {
			return cosig, err
		}
		if attempt == maxAttempts {
			return nil, fmt.Errorf("couldn't update state after %d attempts: %w", attempt, err)
		}
		// A concurrent request advanced the state: start over from it.
		if st, err = w.store.Log(ctx, cp.Origin); err != nil {
			return nil, err
		}
		w.detectEquivocation(ctx, st, cp, req.Checkpoint)
	}
}

// verify opens the signed checkpoint with the log's trusted keys.
func (w *Witness) verify(st *LogState, msg []byte) (*note.Note, error) {
	vs, err := w.logVerifiers(st)
	if err != nil {
		return nil, err
	}
	n, err := note.Open(msg, vs)
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		return nil, fmt.Errorf("%w for %q", ErrUntrusted, st.Origin)
	case errors.As(err, &invalid):
		return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	case err != nil:
		return nil, fmt.Errorf("couldn't verify checkpoint: %w", err)
	}
	return n, nil
}

// logVerifiers returns the verifiers of a log's keys, cached: keys are
// never changed once a log is added.
func (w *Witness) logVerifiers(st *LogState) (note.Verifiers, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if vs, ok := w.verifiers[st.Origin]; ok {
		return vs, nil
	}
	var list []note.Verifier
	for _, k := range st.Keys {
		v, err := fnote.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("couldn't load stored key %q of %q: %w", k, st.Origin, err)
		}
		list = append(list, v)
	}
	vs := note.VerifierList(list...)
	w.verifiers[st.Origin] = vs
	return vs, nil
}

// checkConsistency checks a checkpoint against the latest cosigned one
// (nil if none), per c2sp.org/tlog-witness. It is pure.
func checkConsistency(latest *Latest, old uint64, cp *checkpoint, p [][]byte) error {
	var stored uint64
	if latest != nil {
		stored = latest.Size
	}
	if old != stored {
		return &ConflictError{Size: stored}
	}
	if cp.Size == 0 && !isEmptyRoot(cp.Hash) {
		return ErrNonEmptyRoot
	}
	if old == 0 {
		// The empty tree is consistent with every tree. This is also
		// trust on first use, allowed only from old size 0.
		if len(p) != 0 {
			return fmt.Errorf("%w: old size is 0 but the proof is not empty", ErrBadProof)
		}
		return nil
	}
	if old == cp.Size && !bytes.Equal(latest.Root, cp.Hash) {
		return ErrRootMismatch
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, cp.Size, p, latest.Root, cp.Hash); err != nil {
		return fmt.Errorf("%w: %w", ErrBadProof, err)
	}
	return nil
}

// detectEquivocation stores and reports evidence if the witness cosigned a
// checkpoint of the same size as cp with another root hash. cp carries a
// valid signature from a trusted key of the log, and so does every
// checkpoint in the history. Failures to store are logged: the request's
// answer does not depend on them.
func (w *Witness) detectEquivocation(ctx context.Context, st *LogState, cp *checkpoint, verbatim []byte) {
	if st.Latest == nil || cp.Size > st.Latest.Size {
		return // The history never holds sizes above the latest.
	}
	prev, err := w.store.ConflictAt(ctx, cp.Origin, cp.Size, cp.Hash)
	if err != nil {
		w.log.ErrorContext(ctx, "couldn't check for equivocation", "origin", cp.Origin, "size", cp.Size, "err", err)
		return
	}
	if prev == nil {
		return
	}
	w.recordEvidence(ctx, &Evidence{
		Origin: cp.Origin, Size: cp.Size, Detected: w.now(),
		First: prev.Checkpoint, FirstRoot: prev.Root,
		Second: string(verbatim), SecondRoot: cp.Hash,
	})
}

// recordEvidence stores evidence, logs it at error level and, when it is
// new, counts it and sends the alert.
func (w *Witness) recordEvidence(ctx context.Context, e *Evidence) {
	added, err := w.store.AddEvidence(ctx, e)
	if err != nil {
		w.log.ErrorContext(ctx, "couldn't store equivocation evidence", "origin", e.Origin, "size", e.Size, "err", err)
		return
	}
	w.log.ErrorContext(ctx, "log equivocation: two signed checkpoints that cannot both be true",
		"origin", e.Origin, "size", e.Size, "new", added, "by_proof", len(e.Proof) > 0,
		"cosigned_root", base64.StdEncoding.EncodeToString(e.FirstRoot),
		"conflicting_root", base64.StdEncoding.EncodeToString(e.SecondRoot))
	if added {
		w.metrics.evidence.WithLabelValues(e.Origin).Inc()
		if w.alertURL != "" {
			go w.alert(e)
		}
	}
}

// alert posts evidence to the alert webhook.
func (w *Witness) alert(e *Evidence) {
	b, err := json.Marshal(e)
	if err != nil {
		w.log.Error("couldn't encode evidence alert", "err", err)
		return
	}
	resp, err := w.alertHC.Post(w.alertURL, "application/json", bytes.NewReader(b))
	if err != nil {
		w.log.Error("couldn't send evidence alert", "url", w.alertURL, "err", err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		w.log.Error("evidence alert refused", "url", w.alertURL, "status", resp.StatusCode)
	}
}

// detectForkProof stores evidence when a consistency proof that is
// correct for cp's tree shows that tree with another root at the size of
// the latest cosigned checkpoint: the log signed two trees that cannot
// both be true. A proof that is not correct for cp's tree is only a bad
// request.
func (w *Witness) detectForkProof(ctx context.Context, st *LogState, old uint64, cp *checkpoint, proof [][]byte, verbatim []byte) {
	if st.Latest == nil || old != st.Latest.Size || old >= cp.Size {
		return
	}
	root, ok := priorRoot(old, cp.Size, proof, cp.Hash)
	if !ok || bytes.Equal(root, st.Latest.Root) {
		return
	}
	e := &Evidence{
		Origin: cp.Origin, Size: old, Detected: w.now(),
		First: st.Latest.Checkpoint, FirstRoot: st.Latest.Root,
		Second: string(verbatim), SecondRoot: root, Proof: proof,
	}
	w.recordEvidence(ctx, e)
}

// advance cosigns cp (whose note n was verified) and stores it as the
// latest checkpoint if the latest is still prev.
func (w *Witness) advance(ctx context.Context, prev *Latest, cp *checkpoint, n *note.Note, verbatim []byte) ([]byte, error) {
	// Sign the checkpoint as re-encoded from its parsed fields (identical
	// to the received text, which parseCheckpoint checked), extension lines
	// included, as tlog-cosignature requires of cosignature/v1.
	text := cp.text()
	cosig, t, err := w.cosigner.cosign(text)
	if err != nil {
		return nil, err
	}
	logSigned, err := note.Sign(&note.Note{Text: text, Sigs: n.Sigs})
	if err != nil {
		return nil, fmt.Errorf("couldn't encode cosigned checkpoint: %w", err)
	}
	next := &HistoryEntry{
		Origin: cp.Origin, Size: cp.Size, Root: cp.Hash,
		Checkpoint:  string(verbatim),
		Cosigned:    string(logSigned) + cosig,
		Cosignature: cosig,
		Time:        t,
	}
	if err := w.store.Advance(ctx, prev, next); err != nil {
		return nil, err
	}
	w.metrics.cosignatures.WithLabelValues(cp.Origin).Inc()
	w.metrics.latestSize.WithLabelValues(cp.Origin).Set(float64(cp.Size))
	w.log.DebugContext(ctx, "cosigned checkpoint", "origin", cp.Origin, "size", cp.Size, "history_id", next.ID)
	return []byte(cosig), nil
}
