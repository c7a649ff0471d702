package sequencer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
)

// The sequencer works on two batches at a time: while one batch commits,
// on a goroutine of its own, the next is taken from the queue and judged
// by the rules on top of the state the committing batch leaves (its
// records, in memory, over what the storage's readers see, since the
// writer connection is busy). Nothing of the second batch is
// acknowledged, or even refused, before the first is durable: its
// refusals depend on that state. If the first batch does not commit, the
// second is judged again on the state that is stored. Only one batch
// commits at a time, in index order.

// prepared is a batch that the rules judged, ready to commit.
type prepared struct {
	start time.Time
	// accepted are resolved after the commit: each with the index given
	// in its future, or as a duplicate of an entry of this batch or of
	// the one it was judged after.
	accepted []*pending
	// rejected are refused once the state they were judged on is durable.
	rejected []rejection
	// waiting are the events of accepted and rejected, in the order they
	// were judged.
	waiting []*pending
	overlay *state.Overlay
	leaves  map[[32]byte]uint64 // the entries this batch appends, by leaf hash
	nb      *tiles.Builder      // the tree after the batch
	b       *storage.Batch      // nil when the batch appends nothing
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
	// The batch in flight is finished even when ctx is done: use a
	// context that outlives it.
	bctx := context.WithoutCancel(ctx)
	var fl *inflight
	// settle waits for the batch in flight, if any, and finishes it. ok
	// is false if it did not commit; err is set if the log must stop.
	settle := func() (ok bool, err error) {
		if fl == nil {
			return true, nil
		}
		return l.finishInflight(&fl, <-fl.done)
	}
	defer func() {
		if _, serr := settle(); err == nil {
			err = serr
		}
	}()
	// mapIfDue appends a map-root entry, once the batch in flight is
	// finished, if too many map updates are pending to wait for the epoch.
	mapIfDue := func() error {
		if !l.mapDue() {
			return nil
		}
		if _, err := settle(); err != nil {
			return err
		}
		return l.appendMapRoot(bctx, false)
	}
	for {
		var batch []*pending
		var flDone <-chan commitResult
		if fl != nil {
			flDone = fl.done
		}
		select {
		case p := <-l.queue:
			batch = append(batch, p)
		case r := <-flDone:
			if _, err := l.finishInflight(&fl, r); err != nil {
				return err
			}
			if err := mapIfDue(); err != nil {
				return err
			}
			continue
		case <-epoch.C:
			if _, err := settle(); err != nil {
				return err
			}
			idle := time.Since(l.lastMapRoot) >= l.cfg.MapIdle
			if err := l.appendMapRoot(bctx, idle); err != nil {
				return err
			}
			continue
		case <-ctx.Done():
			return nil
		}
		timer := time.NewTimer(l.cfg.MaxAge)
	fill:
		for len(batch) < l.cfg.MaxBatch {
			// What is queued goes in first: a select with the timer
			// also ready would pick either at random.
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
		timer.Stop()
		l.m.queued.Sub(float64(len(batch)))
		var base *prepared
		if fl != nil {
			select {
			case r := <-fl.done:
				// Committed meanwhile: judge on the stored state,
				// through the writer connection.
				if _, err := l.finishInflight(&fl, r); err != nil {
					stopAll(batch)
					return err
				}
			default:
				base = fl.prepared
			}
		}
		pb, err := l.prepare(bctx, batch, base)
		if err != nil {
			l.failBatch(batch, err)
			continue
		}
		if base != nil {
			l.m.overlapped.Inc()
			ok, err := settle()
			if err != nil {
				stopAll(pb.waiting)
				return err
			}
			if !ok {
				// Judged on a state that was not stored: again, on
				// the stored one.
				l.m.rejudged.Inc()
				rest := pb.waiting
				if pb, err = l.prepare(bctx, rest, nil); err != nil {
					l.failBatch(rest, err)
					continue
				}
			}
		}
		for _, r := range pb.rejected {
			l.reject(r.p, r.err)
		}
		if pb.b == nil {
			for _, p := range pb.accepted {
				p.resolve(p.f.res.Index, true, nil)
			}
			continue
		}
		fl = l.startCommit(bctx, pb)
		if err := mapIfDue(); err != nil {
			return err
		}
	}
}

// prepare judges batch with the rules, on the state after base if base is
// set (a batch whose commit is running), or else on the stored state. It
// resolves at once only what no state decides: resubmissions of stored
// entries, and map-root entries from outside. It returns an error, having
// resolved nothing, when it could not read the stored state.
func (l *Log) prepare(ctx context.Context, batch []*pending, base *prepared) (*prepared, error) {
	pb := &prepared{start: time.Now(), leaves: make(map[[32]byte]uint64)}
	// While base commits, the writer connection is busy: read through
	// the readers, under base's records.
	rd, builder := l.rd, l.builder
	if base != nil {
		rd, builder = l.store, base.nb
	}
	// An event already logged is a resubmission, whatever the rules
	// would say of it now (an old suspend replayed after a resume passes
	// them): it gets its original index. One query for the whole batch.
	// What the readers find is durable (base's entries too, once they see
	// them).
	hashes := make([][32]byte, len(batch))
	for i, p := range batch {
		hashes[i] = p.Leaf
	}
	logged, err := rd.LookupLeaves(ctx, hashes)
	if err != nil {
		return nil, err
	}
	pre, err := l.prefetch(ctx, rd, batch)
	if err != nil {
		return nil, err
	}
	var under state.Reader = pre
	if base != nil {
		under = base.overlay.Over(pre)
	}
	pb.overlay = state.NewOverlay(under)
	next := builder.Size()
	var data [][]byte
	var entries []storage.Entry
	// Resolved at the end, once nothing can fail.
	type early struct {
		p   *pending
		idx uint64
		err error
	}
	var resolved []early
	for _, p := range batch {
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
		if !ok && base != nil {
			idx, ok = base.leaves[p.Leaf]
		}
		if ok {
			// Resolved after the commit, as a duplicate of idx.
			p.f.res.Index, p.f.res.Duplicate = idx, true
			pb.accepted = append(pb.accepted, p)
			continue
		}
		ch, err := l.rules.Apply(pb.overlay, p.Ev, next, p.verified)
		if err != nil {
			pb.rejected = append(pb.rejected, rejection{p, err})
			continue
		}
		pb.overlay.Put(ch)
		pb.leaves[p.Leaf] = next
		p.f.res.Index, p.f.res.Duplicate = next, false
		pb.accepted = append(pb.accepted, p)
		data = append(data, p.Raw)
		entries = append(entries, storage.Entry{
			Index: next, LeafHash: p.Leaf, Issuer: p.Ev.Issuer,
			Credential: p.Ev.Credential, Subject: p.Ev.Subject,
		})
		next++
	}
	if len(data) > 0 {
		pb.nb = builder.Clone()
		u, err := pb.nb.Append(data)
		if err != nil {
			return nil, err
		}
		pb.b = &storage.Batch{
			Start:   builder.Size(),
			Entries: entries,
			State:   pb.overlay.Changed(),
		}
		pb.b.SetTree(u)
	}
	for _, r := range resolved {
		r.p.resolve(r.idx, r.err == nil, r.err)
	}
	return pb, nil
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

// finishInflight finishes *fl with r and clears it.
func (l *Log) finishInflight(fl **inflight, r commitResult) (ok bool, err error) {
	f := *fl
	*fl = nil
	return l.finish(f, r)
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

// prefetched is the state a batch names, read in a few queries before the
// rules run; what it was not asked for is read from storage.
type prefetched struct {
	storage.Storage
	creds    map[storage.RecordKey]*state.Credential
	subjects map[storage.RecordKey]*state.Subject
	asked    map[storage.RecordKey]bool // credential and subject keys read
}

func (l *Log) prefetch(ctx context.Context, rd storage.Storage, batch []*pending) (*prefetched, error) {
	asked := make(map[storage.RecordKey]bool)
	var creds, subjects []storage.RecordKey
	add := func(list *[]storage.RecordKey, k storage.RecordKey) {
		if !asked[k] {
			asked[k] = true
			*list = append(*list, k)
		}
	}
	var zero entry.Hash
	for _, p := range batch {
		ev := p.Ev
		if ev.Credential == zero {
			continue
		}
		add(&creds, storage.RecordKey{Issuer: ev.Issuer, ID: ev.Credential})
		if ev.Supersedes != nil {
			add(&creds, storage.RecordKey{Issuer: ev.Issuer, ID: *ev.Supersedes})
		}
		add(&subjects, storage.RecordKey{Issuer: ev.Issuer, ID: ev.Subject})
	}
	cm, sm, err := rd.ReadState(ctx, creds, subjects)
	if err != nil {
		return nil, err
	}
	return &prefetched{Storage: rd, creds: cm, subjects: sm, asked: asked}, nil
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
