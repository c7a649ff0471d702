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

func (l *Log) sequenceLoop(ctx context.Context) error {
	epoch := time.NewTicker(l.cfg.MapEpoch)
	defer epoch.Stop()
	for {
		var batch []*pending
		select {
		case p := <-l.queue:
			batch = append(batch, p)
		case <-epoch.C:
			idle := time.Since(l.lastMapRoot) >= l.cfg.MapIdle
			if err := l.appendMapRoot(context.WithoutCancel(ctx), idle); err != nil {
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
		// The batch in flight is finished even when ctx is done: use a
		// context that outlives it.
		if err := l.sequence(context.WithoutCancel(ctx), batch); err != nil {
			return err
		}
		if l.mapDue() {
			if err := l.appendMapRoot(context.WithoutCancel(ctx), false); err != nil {
				return err
			}
		}
	}
}

// sequence applies, commits and acknowledges one batch. It returns an
// error only when the log must stop.
func (l *Log) sequence(ctx context.Context, batch []*pending) error {
	start := time.Now()
	// An event already logged is a resubmission, whatever the rules
	// would say of it now (an old suspend replayed after a resume passes
	// them): it gets its original index. One query for the whole batch.
	hashes := make([][32]byte, len(batch))
	for i, p := range batch {
		hashes[i] = p.Leaf
	}
	logged, err := l.rd.LookupLeaves(ctx, hashes)
	if err != nil {
		return l.failBatch(batch, err)
	}
	pre, err := l.prefetch(ctx, batch)
	if err != nil {
		return l.failBatch(batch, err)
	}
	overlay := state.NewOverlay(pre)
	inBatch := make(map[[32]byte]uint64)
	next := l.builder.Size()
	var accepted []*pending
	var data [][]byte
	var entries []storage.Entry
	for _, p := range batch {
		if idx, ok := logged[p.Leaf]; ok {
			l.m.submissions.WithLabelValues("duplicate").Inc()
			p.resolve(idx, true, nil)
			continue
		}
		if p.Ev.Type == entry.TypeMapRoot {
			// Only the sequencer appends map-root entries, with the map
			// update they commit to.
			p.resolve(0, false, errors.New("sequencer: map-root entries are appended by the log itself"))
			continue
		}
		if idx, ok := inBatch[p.Leaf]; ok {
			// Resolved after the commit, as a duplicate of idx.
			p.f.res.Index, p.f.res.Duplicate = idx, true
			accepted = append(accepted, p)
			continue
		}
		ch, err := l.rules.Apply(overlay, p.Ev, next, p.verified)
		if err != nil {
			l.reject(p, err)
			continue
		}
		overlay.Put(ch)
		inBatch[p.Leaf] = next
		p.f.res.Index = next
		accepted = append(accepted, p)
		data = append(data, p.Raw)
		entries = append(entries, storage.Entry{
			Index: next, LeafHash: p.Leaf, Issuer: p.Ev.Issuer,
			Credential: p.Ev.Credential, Subject: p.Ev.Subject,
		})
		next++
	}
	if len(data) == 0 {
		for _, p := range accepted {
			p.resolve(p.f.res.Index, true, nil)
		}
		return nil
	}
	nb := l.builder.Clone()
	u, err := nb.Append(data)
	if err != nil {
		return l.failBatch(accepted, err)
	}
	b := &storage.Batch{
		Start:   l.builder.Size(),
		Entries: entries,
		State:   overlay.Changed(),
	}
	b.SetTree(u)
	commitStart := time.Now()
	if err, fatal := l.commit(ctx, b); err != nil {
		l.failBatch(accepted, err)
		return fatal
	}
	l.m.commitSeconds.Observe(time.Since(commitStart).Seconds())
	l.learnKeys(b.State.Issuers)
	mapErr := l.addMapChanges(b.State)
	l.advance(nb)
	for _, p := range accepted {
		p.resolve(p.f.res.Index, p.f.res.Duplicate, nil)
	}
	l.m.sequenced.Add(float64(len(data)))
	l.m.batchSize.Observe(float64(len(data)))
	l.m.batchSeconds.Observe(time.Since(start).Seconds())
	if mapErr != nil {
		return fmt.Errorf("sequencer: couldn't collect the batch's map updates: %w", mapErr)
	}
	return nil
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

func (l *Log) prefetch(ctx context.Context, batch []*pending) (*prefetched, error) {
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
	cm, sm, err := l.rd.ReadState(ctx, creds, subjects)
	if err != nil {
		return nil, err
	}
	return &prefetched{Storage: l.rd, creds: cm, subjects: sm, asked: asked}, nil
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
