package sequencer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
)

// The sequencer works on two batches at a time: while one batch commits,
// on a goroutine of its own, it takes the events that arrive, a few at a
// time, and judges them by the rules on top of the state the committing
// batch leaves (its records, in memory, over what the storage's readers
// see, since the writer connection is busy). They make the next batch,
// which commits as soon as the first one has. Nothing of it is
// acknowledged, or even refused, before the first batch is durable: its
// refusals depend on that state. If the first batch does not commit, the
// second is judged again, in the order its events came, on the state that
// is stored. Only one batch commits at a time, in index order.

// prepared is a batch being judged, or judged and ready to commit.
type prepared struct {
	start time.Time
	base  *prepared // the batch it is judged after, while that one commits
	rd    storage.Storage
	pre   *prefetched
	// accepted are resolved after the commit: each with the index given
	// in its future, or as a duplicate of an entry of this batch or of
	// base.
	accepted []*pending
	// rejected are refused once the state they were judged on is durable.
	rejected []rejection
	// waiting are the events of accepted and rejected, in the order they
	// were judged.
	waiting []*pending
	overlay *state.Overlay
	leaves  map[[32]byte]uint64 // the entries this batch appends, by leaf hash
	builder *tiles.Builder      // the tree before the batch
	data    [][]byte
	entries []storage.Entry
	nb      *tiles.Builder // the tree after the batch, once sealed
	b       *storage.Batch // set by seal when the batch appends entries
}

type rejection struct {
	p   *pending
	err error
}

// inflight is a prepared batch whose commit is running.
type inflight struct {
	*prepared
	done chan commitResult
}

type commitResult struct {
	err, fatal error
	took       time.Duration
}

func (l *Log) sequenceLoop(ctx context.Context) (err error) {
	epoch := time.NewTicker(l.cfg.MapEpoch)
	defer epoch.Stop()
	// The batches in flight are finished even when ctx is done: use a
	// context that outlives them.
	bctx := context.WithoutCancel(ctx)
	var fl *inflight
	// end finishes the batch in flight with r, its commit's result. ok
	// is false if it did not commit; err is set if the log must stop.
	end := func(r commitResult) (ok bool, err error) {
		f := fl
		fl = nil
		return l.finish(f, r)
	}
	// settle waits for the batch in flight, if any, and ends it.
	settle := func() (ok bool, err error) {
		if fl == nil {
			return true, nil
		}
		return end(<-fl.done)
	}
	// epochMapRoot appends the map-root entry of an epoch, after the
	// batch in flight.
	epochMapRoot := func() error {
		if _, err := settle(); err != nil {
			return err
		}
		idle := time.Since(l.lastMapRoot) >= l.cfg.MapIdle
		return l.appendMapRoot(bctx, idle)
	}
	defer func() {
		if _, serr := settle(); err == nil {
			err = serr
		}
	}()
	// launch starts the commit of pb, judged on a durable state: it
	// answers pb's refusals, and appends a map-root entry after pb if
	// too many map updates are pending to wait for the epoch.
	launch := func(pb *prepared) error {
		for _, r := range pb.rejected {
			l.reject(r.p, r.err)
		}
		if pb.b == nil {
			for _, p := range pb.accepted {
				p.resolve(p.f.res.Index, true, nil)
			}
			return nil
		}
		fl = l.startCommit(bctx, pb)
		if !l.mapDue() {
			return nil
		}
		if _, err := settle(); err != nil {
			return err
		}
		return l.appendMapRoot(bctx, false)
	}
	for {
		if fl == nil {
			var batch []*pending
			select {
			case p := <-l.queue:
				batch = l.fill(ctx, p, l.cfg.MaxBatch)
			case <-epoch.C:
				if err := epochMapRoot(); err != nil {
					return err
				}
				continue
			case <-ctx.Done():
				return nil
			}
			pb := l.newPrepared(nil)
			if err := l.judge(bctx, pb, batch); err != nil {
				l.failBatch(batch, err)
				continue
			}
			if err := l.seal(pb); err != nil {
				l.failBatch(pb.waiting, err)
				continue
			}
			if err := launch(pb); err != nil {
				return err
			}
			continue
		}
		// A batch commits: judge what arrives meanwhile, until it ends.
		pb := l.newPrepared(fl.prepared)
		var r commitResult
		var epochDue, stopping bool
		done := ctx.Done()
		for waiting := true; waiting; {
			queue := l.queue
			if stopping || len(pb.waiting) >= l.cfg.MaxBatch {
				queue = nil
			}
			select {
			case r = <-fl.done:
				waiting = false
			case p := <-queue:
				chunk := l.fill(ctx, p, l.cfg.MaxBatch-len(pb.waiting))
				if err := l.judge(bctx, pb, chunk); err != nil {
					l.failBatch(chunk, err)
				}
			case <-epoch.C:
				epochDue = true
			case <-done:
				stopping, done = true, nil
			}
		}
		ok, err := end(r)
		if err != nil {
			stopAll(pb.waiting)
			return err
		}
		if len(pb.waiting) > 0 {
			if !ok {
				// Judged on a state that was not stored: again, on
				// the stored one.
				l.m.rejudged.Inc()
				rest := pb.waiting
				pb = l.newPrepared(nil)
				if err := l.judge(bctx, pb, rest); err != nil {
					l.failBatch(rest, err)
					pb = nil
				}
			}
			if pb != nil {
				if err := l.seal(pb); err != nil {
					l.failBatch(pb.waiting, err)
				} else if err := launch(pb); err != nil {
					return err
				}
			}
		}
		if epochDue {
			if err := epochMapRoot(); err != nil {
				return err
			}
		}
		if stopping {
			return nil
		}
	}
}

// fill returns first and what else is queued, waiting up to MaxAge for
// more: at most max events.
func (l *Log) fill(ctx context.Context, first *pending, max int) []*pending {
	batch := []*pending{first}
	timer := time.NewTimer(l.cfg.MaxAge)
	defer timer.Stop()
fill:
	for len(batch) < max {
		// What is queued goes in first: a select with the timer also
		// ready would pick either at random.
		select {
		case p := <-l.queue:
			batch = append(batch, p)
			continue
		default:
		}
		select {
		case p := <-l.queue:
			batch = append(batch, p)
		case <-timer.C:
			break fill
		case <-ctx.Done():
			break fill
		}
	}
	l.m.queued.Sub(float64(len(batch)))
	return batch
}

// newPrepared returns an empty batch to judge on the state after base, a
// batch whose commit is running, or on the stored state if base is nil.
func (l *Log) newPrepared(base *prepared) *prepared {
	pb := &prepared{start: time.Now(), base: base, rd: l.rd, builder: l.builder, leaves: make(map[[32]byte]uint64)}
	if base != nil {
		// The writer connection is busy with base's commit: read
		// through the readers, under base's records.
		pb.rd, pb.builder = l.store, base.nb
	}
	pb.pre = newPrefetched(pb.rd)
	var under state.Reader = pb.pre
	if base != nil {
		under = base.overlay.Over(pb.pre)
	}
	pb.overlay = state.NewOverlay(under)
	return pb
}

// judge applies the rules to events, in order, adding them to pb. It
// resolves at once only what no state decides: resubmissions of stored
// entries, and map-root entries from outside. It returns an error, having
// changed nothing and resolved nothing, when it could not read the stored
// state.
func (l *Log) judge(ctx context.Context, pb *prepared, events []*pending) error {
	// An event already logged is a resubmission, whatever the rules
	// would say of it now (an old suspend replayed after a resume passes
	// them): it gets its original index. One query for all of events.
	// What the readers find is durable (base's entries too, once they see
	// them).
	hashes := make([][32]byte, len(events))
	for i, p := range events {
		hashes[i] = p.Leaf
	}
	logged, err := pb.rd.LookupLeaves(ctx, hashes)
	if err != nil {
		return err
	}
	if err := pb.pre.fetch(ctx, events); err != nil {
		return err
	}
	// Resolved at the end.
	type early struct {
		p   *pending
		idx uint64
		err error
	}
	var resolved []early
	for _, p := range events {
		if idx, ok := logged[p.Leaf]; ok {
			l.m.submissions.WithLabelValues("duplicate").Inc()
			resolved = append(resolved, early{p: p, idx: idx})
			continue
		}
		if p.Ev.Type == entry.TypeMapRoot {
			// Only the sequencer appends map-root entries, with the map
			// update they commit to.
			resolved = append(resolved, early{p: p, err: errors.New("sequencer: map-root entries are appended by the log itself")})
			continue
		}
		pb.waiting = append(pb.waiting, p)
		idx, ok := pb.leaves[p.Leaf]
		if !ok && pb.base != nil {
			idx, ok = pb.base.leaves[p.Leaf]
		}
		if ok {
			// Resolved after the commit, as a duplicate of idx.
			p.f.res.Index, p.f.res.Duplicate = idx, true
			pb.accepted = append(pb.accepted, p)
			continue
		}
		next := pb.builder.Size() + uint64(len(pb.data))
		ch, err := l.rules.Apply(pb.overlay, p.Ev, next, p.verified)
		if err != nil {
			pb.rejected = append(pb.rejected, rejection{p, err})
			continue
		}
		pb.overlay.Put(ch)
		pb.leaves[p.Leaf] = next
		p.f.res.Index, p.f.res.Duplicate = next, false
		pb.accepted = append(pb.accepted, p)
		pb.data = append(pb.data, p.Raw)
		pb.entries = append(pb.entries, storage.Entry{
			Index: next, LeafHash: p.Leaf, Issuer: p.Ev.Issuer,
			Credential: p.Ev.Credential, Subject: p.Ev.Subject,
		})
	}
	for _, r := range resolved {
		r.p.resolve(r.idx, r.err == nil, r.err)
	}
	if pb.base != nil {
		l.m.overlapped.Add(float64(len(events)))
	}
	return nil
}

// seal ends the judging of pb, whose base is durable: it extends the tree
// with pb's entries and makes the storage batch, if pb appends any.
func (l *Log) seal(pb *prepared) error {
	pb.base = nil
	if len(pb.data) == 0 {
		return nil
	}
	nb := pb.builder.Clone()
	u, err := nb.Append(pb.data)
	if err != nil {
		return err
	}
	pb.nb = nb
	pb.b = &storage.Batch{
		Start:   pb.builder.Size(),
		Entries: pb.entries,
		State:   pb.overlay.Changed(),
	}
	pb.b.SetTree(u)
	return nil
}

// startCommit commits pb on a goroutine of its own.
func (l *Log) startCommit(ctx context.Context, pb *prepared) *inflight {
	fl := &inflight{prepared: pb, done: make(chan commitResult, 1)}
	go func() {
		start := time.Now()
		err, fatal := l.commit(ctx, pb.b)
		fl.done <- commitResult{err: err, fatal: fatal, took: time.Since(start)}
	}()
	return fl
}

// stopAll answers ErrStopped to ps.
func stopAll(ps []*pending) {
	for _, p := range ps {
		p.resolve(0, false, ErrStopped)
	}
}

// finish acknowledges fl's events once r says it committed, or fails
// them. ok reports whether it committed; err is set when the log must
// stop.
func (l *Log) finish(fl *inflight, r commitResult) (ok bool, err error) {
	if r.err != nil {
		l.failBatch(fl.accepted, r.err)
		return false, r.fatal
	}
	l.m.commitSeconds.Observe(r.took.Seconds())
	l.learnKeys(fl.b.State.Issuers)
	mapErr := l.addMapChanges(fl.b.State)
	l.advance(fl.nb)
	for _, p := range fl.accepted {
		p.resolve(p.f.res.Index, p.f.res.Duplicate, nil)
	}
	l.m.sequenced.Add(float64(len(fl.b.Entries)))
	l.m.batchSize.Observe(float64(len(fl.b.Entries)))
	l.m.batchSeconds.Observe(time.Since(fl.start).Seconds())
	if mapErr != nil {
		return true, fmt.Errorf("sequencer: couldn't collect the batch's map updates: %w", mapErr)
	}
	return true, nil
}

// commit durably writes b. On failure it returns the error, and fatal is
// set when the log must stop: another sequencer appended, or storage is in
// an unknown state. A commit that landed although storage reported an
// error (the stored tree says so) is a success.
func (l *Log) commit(ctx context.Context, b *storage.Batch) (err, fatal error) {
	err = l.store.Commit(ctx, b)
	if err == nil {
		return nil, nil
	}
	var ce *storage.ConflictError
	if errors.As(err, &ce) {
		return err, fmt.Errorf("another sequencer appended: %w", err)
	}
	ts, terr := l.store.Tree(ctx)
	switch {
	case terr == nil && ts.Size == b.Start:
		l.log.Error("batch not committed", "entries", len(b.Entries), "err", err)
		return err, nil
	case terr == nil && ts.Size == b.Tree.Size && ts.Root == b.Tree.Root:
		l.log.Warn("batch committed despite an error", "err", err)
		return nil, nil
	}
	return err, fmt.Errorf("sequencer: storage in an unknown state after a failed commit (%v): %w", terr, err)
}

// advance makes nb, whose batch is durable, the log's tree.
func (l *Log) advance(nb *tiles.Builder) {
	l.builder = nb
	l.mu.Lock()
	l.committed = nb.Size()
	close(l.commitCh)
	l.commitCh = make(chan struct{})
	l.mu.Unlock()
	l.m.treeSize.Set(float64(nb.Size()))
}

// reject resolves a pending event that the rules refused.
func (l *Log) reject(p *pending, err error) {
	var v *state.Violation
	if errors.As(err, &v) {
		l.m.submissions.WithLabelValues(string(v.Rule)).Inc()
	}
	p.resolve(0, false, err)
}

func (l *Log) failBatch(accepted []*pending, err error) error {
	l.m.commitErrors.Inc()
	for _, p := range accepted {
		p.resolve(0, false, fmt.Errorf("%w: %w", ErrCommit, err))
	}
	return nil
}

func (l *Log) learnKeys(issuers []*state.Issuer) {
	if len(issuers) == 0 {
		return
	}
	l.keysMu.Lock()
	defer l.keysMu.Unlock()
	for _, i := range issuers {
		l.keys[i.Name] = issuerKey{id: i.KeyID, pub: ed25519.PublicKey(bytes.Clone(i.PublicKey[:]))}
	}
}

// prefetched is the state the events of a batch name, read in a query
// or two per call of fetch before the rules run; what it was not asked
// for is read from storage.
type prefetched struct {
	storage.Storage
	creds    map[storage.RecordKey]*state.Credential
	subjects map[storage.RecordKey]*state.Subject
	asked    map[storage.RecordKey]bool // credential and subject keys read
}

func newPrefetched(rd storage.Storage) *prefetched {
	return &prefetched{
		Storage:  rd,
		creds:    make(map[storage.RecordKey]*state.Credential),
		subjects: make(map[storage.RecordKey]*state.Subject),
		asked:    make(map[storage.RecordKey]bool),
	}
}

// fetch reads the records that events name and p does not hold yet. On
// error p is unchanged.
func (p *prefetched) fetch(ctx context.Context, events []*pending) error {
	seen := make(map[storage.RecordKey]bool)
	var creds, subjects []storage.RecordKey
	add := func(list *[]storage.RecordKey, k storage.RecordKey) {
		if !p.asked[k] && !seen[k] {
			seen[k] = true
			*list = append(*list, k)
		}
	}
	var zero entry.Hash
	for _, pe := range events {
		ev := pe.Ev
		if ev.Credential == zero {
			continue
		}
		add(&creds, storage.RecordKey{Issuer: ev.Issuer, ID: ev.Credential})
		if ev.Supersedes != nil {
			add(&creds, storage.RecordKey{Issuer: ev.Issuer, ID: *ev.Supersedes})
		}
		add(&subjects, storage.RecordKey{Issuer: ev.Issuer, ID: ev.Subject})
	}
	if len(seen) == 0 {
		return nil
	}
	cm, sm, err := p.Storage.ReadState(ctx, creds, subjects)
	if err != nil {
		return err
	}
	for k := range seen {
		p.asked[k] = true
	}
	maps.Copy(p.creds, cm)
	maps.Copy(p.subjects, sm)
	return nil
}

// Credential implements state.Reader.
func (p *prefetched) Credential(issuer string, id entry.Hash) (*state.Credential, error) {
	if k := (storage.RecordKey{Issuer: issuer, ID: id}); p.asked[k] {
		return p.creds[k], nil
	}
	return p.Storage.Credential(issuer, id)
}

// Subject implements state.Reader.
func (p *prefetched) Subject(issuer string, label entry.Hash) (*state.Subject, error) {
	if k := (storage.RecordKey{Issuer: issuer, ID: label}); p.asked[k] {
		return p.subjects[k], nil
	}
	return p.Storage.Subject(issuer, label)
}
