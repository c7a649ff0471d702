package sequencer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/vmap"
)

// The verifiable map (package vmap) is kept as docs/MAP.md §7.3 says: the
// sequencer collects in memory the map updates of every committed batch
// (the latest record of each credential and subject it changed), and at
// each epoch appends a map-root entry, alone in its batch, committing the
// map diff of those updates in the same transaction. The stored map is
// therefore always the map of the latest map-root entry.
//
// After a restart, the pending updates are recomputed from storage: the
// current records of every credential (and superseded credential) and
// subject named by the entries after the latest map-root entry. Since
// nothing but those entries changed those records since then, and no
// other record changed, this is exactly what was pending.

// recoverPending fills l.mapPending, and the map worker, for the entries
// [from, size), from is the entry after the latest map-root entry.
func (l *Log) recoverPending(ctx context.Context, size uint64) error {
	var from uint64
	root, err := l.mapWork.init(ctx)
	if err != nil {
		return err
	}
	mr, err := l.store.MapRoot(ctx)
	switch {
	case err == nil:
		from = mr.Index + 1
		if root != mr.Root {
			return fmt.Errorf("sequencer: stored map root %x is not the root %x of map-root entry %d", root, mr.Root, mr.Index)
		}
		l.mu.Lock()
		l.mapRoot = mr
		l.mu.Unlock()
	case errors.Is(err, storage.ErrNotFound):
	default:
		return fmt.Errorf("couldn't read the map root: %w", err)
	}
	seen := make(map[storage.RecordKey]bool)
	var creds, subjects []storage.RecordKey
	add := func(list *[]storage.RecordKey, k storage.RecordKey, subject bool) {
		sk := k
		if subject {
			sk.Issuer = "\x00" + k.Issuer // keep the two kinds apart in seen
		}
		if !seen[sk] {
			seen[sk] = true
			*list = append(*list, k)
		}
	}
	var zero entry.Hash
	for b := from / tiles.Width; b*tiles.Width < size; b++ {
		data, err := l.store.ReadBundle(ctx, b)
		if err != nil {
			return fmt.Errorf("couldn't read entry bundle %d: %w", b, err)
		}
		raws, err := tiles.BundleEntries(data)
		if err != nil {
			return fmt.Errorf("entry bundle %d: %w", b, err)
		}
		for i, raw := range raws {
			idx := b*tiles.Width + uint64(i)
			if idx < from || idx >= size {
				continue
			}
			ev, err := entry.Parse(raw)
			if err != nil {
				return fmt.Errorf("stored entry %d: %w", idx, err)
			}
			if ev.Credential == zero {
				continue
			}
			add(&creds, storage.RecordKey{Issuer: ev.Issuer, ID: ev.Credential}, false)
			if ev.Supersedes != nil {
				add(&creds, storage.RecordKey{Issuer: ev.Issuer, ID: *ev.Supersedes}, false)
			}
			add(&subjects, storage.RecordKey{Issuer: ev.Issuer, ID: ev.Subject}, true)
		}
	}
	if len(creds) == 0 && len(subjects) == 0 {
		return nil
	}
	cm, sm, err := l.rd.ReadState(ctx, creds, subjects)
	if err != nil {
		return fmt.Errorf("couldn't read the state pending in the map: %w", err)
	}
	ch := &state.Changes{}
	for _, c := range cm {
		ch.Credentials = append(ch.Credentials, c)
	}
	for _, s := range sm {
		ch.Subjects = append(ch.Subjects, s)
	}
	return l.addMapChanges(ch)
}

// addMapChanges records the map updates of committed changes, and hands
// them to the map worker.
func (l *Log) addMapChanges(ch *state.Changes) error {
	ups, err := vmap.UpdatesFromChanges(ch)
	if err != nil {
		return err
	}
	l.mapPending.AddUpdates(ups)
	l.mapWork.add(ups)
	return nil
}

// mapDue reports whether the pending map updates are too many to wait for
// the next epoch.
func (l *Log) mapDue() bool { return l.mapPending.Len() >= l.cfg.MapMaxPending }

// appendMapRoot appends a map-root entry committing to the map over every
// entry before it, with the map diff in the same batch, if any map update
// is pending or if idle (the map is the same, but a fresh entry keeps
// status proofs fresh). It returns an error only when the log must stop; a
// batch that did not commit is retried at the next epoch.
func (l *Log) appendMapRoot(ctx context.Context, idle bool) error {
	if l.mapPending.Len() == 0 && (!idle || l.builder.Size() == 0) {
		return nil
	}
	start := time.Now()
	idx := l.builder.Size()
	d, err := l.mapWork.diff()
	waited := time.Since(start)
	if err != nil {
		l.log.Error("couldn't compute the map update", "err", err)
		l.m.commitErrors.Inc()
		// Start again from the pending updates; retried at the next epoch.
		if err := l.mapWork.restart(ctx, l.mapPending.Updates()); err != nil {
			l.log.Error("couldn't read the map root", "err", err)
		}
		return nil
	}
	ev := &entry.Event{
		Type: entry.TypeMapRoot, Issuer: l.origin, KeyID: l.cfg.Signer.KeyID(),
		Time: uint64(time.Now().Unix()), TreeSize: idx, MapRoot: d.Root,
	}
	if err := ev.Sign(l.cfg.Signer.PrivateKey()); err != nil {
		return fmt.Errorf("sequencer: couldn't sign a map-root entry: %w", err)
	}
	raw, err := ev.Marshal()
	if err != nil {
		return fmt.Errorf("sequencer: couldn't encode a map-root entry: %w", err)
	}
	// The rules check what they check of every entry (signer, size).
	if _, err := l.rules.Apply(l.rd, ev, idx, l.rules.LogKey); err != nil {
		return fmt.Errorf("sequencer: own map-root entry refused: %w", err)
	}
	nb := l.builder.Clone()
	u, err := nb.Append([][]byte{raw})
	if err != nil {
		return fmt.Errorf("sequencer: %w", err)
	}
	b := &storage.Batch{
		Start:    idx,
		Entries:  []storage.Entry{{Index: idx, LeafHash: tiles.LeafHash(raw), Issuer: l.origin}},
		Map:      d,
		MapIndex: idx,
	}
	b.SetTree(u)
	if err, fatal := l.commit(ctx, b); err != nil {
		l.m.commitErrors.Inc()
		return fatal // retried at the next epoch unless fatal
	}
	l.mapWork.committed(d)
	l.mu.Lock()
	l.mapRoot = &storage.MapRoot{Index: idx, Root: d.Root}
	l.mu.Unlock()
	l.advance(nb)
	l.mapPending.Reset()
	l.lastMapRoot = time.Now()
	l.log.Debug("appended map-root", "index", idx, "root", fmt.Sprintf("%x", d.Root), "writes", len(d.Writes), "seconds", time.Since(start).Seconds(), "waited", waited.Seconds())
	return nil
}
