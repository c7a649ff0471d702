package sequencer_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/faulty"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/vmap"
)

// storedEntries yields the first size entries of the log in s.
func storedEntries(ctx context.Context, s storage.Storage, size uint64) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for b := uint64(0); b*tiles.Width < size; b++ {
			data, err := s.ReadBundle(ctx, b)
			if err != nil {
				yield(nil, err)
				return
			}
			raws, err := tiles.BundleEntries(data)
			if err != nil {
				yield(nil, err)
				return
			}
			for i, raw := range raws {
				if b*tiles.Width+uint64(i) >= size {
					return
				}
				if !yield(raw, nil) {
					return
				}
			}
		}
	}
}

// waitMapRoot waits until a map-root entry covers the first size entries.
func (e *env) waitMapRoot(size uint64) *storage.MapRoot {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mr, err := e.l.Storage().MapRoot(context.Background())
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			e.t.Fatal(err)
		}
		if err == nil && mr.Index >= size {
			return mr
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("no map-root entry covers %d entries", size)
	return nil
}

// rebuild replays the whole stored log, checks every map-root entry, and
// checks that the stored map is the map of the latest one.
func (e *env) rebuild() *vmap.Rebuilder {
	e.t.Helper()
	ctx := context.Background()
	s := e.l.Storage()
	ts, err := s.Tree(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := vmap.Rebuild(ctx, e.l.Rules(), storedEntries(ctx, s, ts.Size))
	if err != nil {
		e.t.Fatalf("rebuild: %v", err)
	}
	mr, err := s.MapRoot(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	stored, err := vmap.NewTree(s).Root(ctx)
	if err != nil || stored != mr.Root {
		e.t.Fatalf("stored map root %x (%v), map-root entry %d commits to %x", stored, err, mr.Index, mr.Root)
	}
	// The map-root entry is the one the storage names.
	var last []byte
	for raw, err := range storedEntries(ctx, s, mr.Index+1) {
		if err != nil {
			e.t.Fatal(err)
		}
		last = raw
	}
	ev, err := entry.Parse(last)
	if err != nil || ev.Type != entry.TypeMapRoot || ev.MapRoot != mr.Root || ev.TreeSize != mr.Index {
		e.t.Fatalf("entry %d is not the stored map root's entry: %+v, %v", mr.Index, ev, err)
	}
	return r
}

// mapRun is a log with map-root entries every 20 ms.
type mapRun struct {
	*env
	size uint64 // the log's size after the events submitted
}

func newMapRun(t *testing.T, faults bool) *mapRun {
	e := &env{t: t, dir: t.TempDir(), mapEpoch: 20 * time.Millisecond, faults: faults}
	base := newEnv(t)
	e.logKey, e.issKey = base.logKey, base.issKey
	e.start()
	t.Cleanup(e.stop)
	return &mapRun{env: e}
}

// log submits an event that must be logged.
func (r *mapRun) log(raw []byte) {
	r.t.Helper()
	res := r.submit(raw)
	if res.Err != nil {
		r.t.Fatal(res.Err)
	}
	r.size = max(r.size, res.Index+1)
}

func TestMapRootEpochs(t *testing.T) {
	e := newMapRun(t, false)
	submit := e.log
	submit(e.registration())
	for i := range 40 {
		submit(e.issue(i))
		if i%10 == 9 {
			e.size = e.waitMapRoot(e.size).Index + 1
		}
	}
	submit(e.revoke(3))
	mr := e.waitMapRoot(e.size)
	r := e.rebuild()
	if r.MapRoots() < 5 {
		t.Fatalf("%d map-root entries checked, want at least 5", r.MapRoots())
	}

	// Entries after the latest map-root entry, then a restart: the
	// pending updates are recovered from storage.
	e.stop()
	e.mapEpoch = time.Hour
	e.start()
	e.size = mr.Index + 1
	for i := 40; i < 50; i++ {
		submit(e.issue(i))
	}
	submit(e.revoke(41))
	submit(e.revoke(5))
	if got, _ := e.l.Storage().MapRoot(context.Background()); got.Index != mr.Index {
		t.Fatalf("map-root entry %d appended before the epoch", got.Index)
	}
	e.stop()
	e.mapEpoch = 20 * time.Millisecond
	e.start()
	e.waitMapRoot(e.size)
	r = e.rebuild()

	// A credential revoked before the latest map root is proved revoked.
	c, err := r.State().Credential(issuer, credID(41))
	if err != nil || c == nil || c.Status != state.StatusRevoked {
		t.Fatalf("credential 41: %+v %v", c, err)
	}
	key := vmap.CredentialKey(issuer, credID(41))
	root, _ := vmap.NewTree(e.l.Storage()).Root(context.Background())
	p, v, err := vmap.NewTree(e.l.Storage()).Prove(context.Background(), key)
	if err != nil || v == nil {
		t.Fatalf("prove credential 41: %v (value %x)", err, v)
	}
	pb, _ := p.Marshal()
	if _, err := vmap.VerifyCredentialStatus(root, issuer, credID(41), c.Status, v, pb); err != nil {
		t.Fatal(err)
	}
}

// TestMapRootAfterFaults checks that the map, computed ahead of the
// map-root entries batch by batch, stays the map of the log through
// failed map reads (the batches commit; the map update is recomputed
// from every update since the stored map) and failed commits of
// map-root entries (the update waits for the next epoch).
func TestMapRootAfterFaults(t *testing.T) {
	e := newMapRun(t, true)
	submit := e.log
	submit(e.registration())
	for i := range 10 {
		submit(e.issue(i))
	}
	mr := e.waitMapRoot(e.size)

	// Map reads fail: entries are still logged, but no map-root entry.
	e.fs.FailMapReads(true)
	for i := 10; i < 20; i++ {
		submit(e.issue(i))
	}
	submit(e.revoke(3))
	time.Sleep(100 * time.Millisecond) // several epochs
	if got, err := e.l.Storage().MapRoot(context.Background()); err != nil || got.Index != mr.Index {
		t.Fatalf("map root %+v (%v) appended while map reads fail", got, err)
	}
	e.fs.FailMapReads(false)
	for i := 20; i < 25; i++ {
		submit(e.issue(i))
	}
	e.waitMapRoot(e.size)
	e.rebuild()

	// Commits land but report an error: the log checks the stored tree
	// and goes on, map-root entries included.
	e.fs.FailCommits(faulty.CommitFailAfter)
	for i := 25; i < 30; i++ {
		submit(e.issue(i))
	}
	e.waitMapRoot(e.size)
	e.fs.FailCommits(faulty.CommitOK)
	e.rebuild()

	// The commit of a map-root entry fails: the next epoch appends one
	// with the same updates and those of the entries since.
	n := 30
	for {
		_, failed := e.fs.Commits()
		submit(e.issue(n))
		n++
		e.fs.FailCommits(faulty.CommitFailBefore)
		time.Sleep(60 * time.Millisecond)
		e.fs.FailCommits(faulty.CommitOK)
		if _, f := e.fs.Commits(); f > failed {
			break
		}
		if n > 60 {
			t.Fatal("no commit of a map-root entry failed")
		}
	}
	submit(e.revoke(30))
	e.waitMapRoot(e.size)
	r := e.rebuild()
	if c, err := r.State().Credential(issuer, credID(30)); err != nil || c == nil || c.Status != state.StatusRevoked {
		t.Fatalf("credential 30: %+v %v", c, err)
	}
}

func credID(n int) entry.Hash { return sha256.Sum256(fmt.Appendf(nil, "c%d", n)) }

// TestMapRootWhenIdle checks that an idle log still appends a map-root
// entry every MapIdle, so that status proofs stay fresh, and that each
// commits to the same map.
func TestMapRootWhenIdle(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), mapEpoch: 10 * time.Millisecond, mapIdle: 50 * time.Millisecond}
	base := newEnv(t)
	e.logKey, e.issKey = base.logKey, base.issKey
	e.start()
	t.Cleanup(e.stop)
	if r := e.submit(e.registration()); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := e.submit(e.issue(1)); r.Err != nil {
		t.Fatal(r.Err)
	}
	first := e.waitMapRoot(2)
	// No more events: later map-root entries come from idleness alone.
	second := e.waitMapRoot(first.Index + 1)
	third := e.waitMapRoot(second.Index + 1)
	if second.Root != first.Root || third.Root != first.Root {
		t.Fatalf("idle map-roots changed the map: %x, %x, %x", first.Root, second.Root, third.Root)
	}
	if r := e.rebuild(); r.MapRoots() < 3 {
		t.Fatalf("%d map-root entries checked, want at least 3", r.MapRoots())
	}
}

// TestMapRootInMemory: the log's in-memory latest map-root entry is
// storage's after a map-root entry and after a restart; none before the
// first, and none once the log has stopped.
func TestMapRootInMemory(t *testing.T) {
	e := newMapRun(t, false)
	if mr, ok := e.l.MapRoot(); ok {
		t.Fatalf("a fresh log has a map root in memory: %+v", mr)
	}
	same := func(what string) {
		t.Helper()
		got, ok := e.l.MapRoot()
		want, err := e.l.Storage().MapRoot(context.Background())
		if err != nil || !ok || got != *want {
			t.Fatalf("%s: in memory %+v (%v), stored %+v (%v)", what, got, ok, want, err)
		}
	}
	e.log(e.registration())
	e.log(e.issue(1))
	e.size = e.waitMapRoot(e.size).Index + 1
	same("after a map-root entry")
	e.log(e.issue(2))
	e.waitMapRoot(e.size)
	same("after another")
	e.stop()
	if _, ok := e.l.MapRoot(); ok {
		t.Fatal("a stopped log answers the map root from memory")
	}
	e.mapEpoch = time.Hour
	e.start()
	same("after a restart")
}
