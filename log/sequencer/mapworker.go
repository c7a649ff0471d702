package sequencer

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/credlog/credlog/log/vmap"
)

// mapWorker computes the next map-root entry's map update while the log
// goes on sequencing. The sequencer hands it the map updates of every
// committed batch (add); on its own goroutine, the worker applies them,
// in order, to an overlay of the stored map: the nodes written since the
// latest map-root entry. When a map-root entry is due, diff waits for
// the batches handed over so far and returns the overlay as one Diff from
// the stored map, which the sequencer commits with the entry; committed
// then folds the overlay into the stored map.
//
// The map's hash depends only on its keys and values, so applying the
// updates batch by batch gives the root that one update with all of them
// would. The sequencer's vmap.Pending stays the reference: after an error
// here, restart recomputes the overlay from it.
//
// Only the sequencer goroutine calls add, diff, committed and restart;
// diff and committed are called with no add in between, so the overlay
// is never changed while the sequencer reads it.
type mapWorker struct {
	cache *vmap.Cache // the stored map (its top levels in memory)
	tree  *vmap.Tree  // over overlayReader{w: w}
	chunk int         // the most updates one Tree.Update applies

	mu    sync.Mutex
	cond  *sync.Cond
	queue [][]vmap.Update // batches not applied yet
	busy  bool            // the worker is applying batches taken off queue
	err   error           // the first error since the last restart
	stop  bool
	done  chan struct{} // closed when run returns

	// Owned by the worker goroutine while busy, by the sequencer
	// otherwise. The overlay is a list of writes, one per position, with
	// an index by position: diff sorts the list in place and hands it out
	// as the Diff, so that a map-root entry's update (hundreds of
	// thousands of nodes) is not held twice. Its room is kept from one
	// map-root entry to the next.
	writes  []vmap.NodeWrite      // nodes written since the stored map
	removed []vmap.Key            // keys removed since the stored map (vmap.Diff.Removed)
	index   map[vmap.NodeID]int32 // position → its write; out of date while sorted
	sorted  bool                  // diff has sorted writes since the index was built
	base    vmap.Hash             // root of the stored map
	root    vmap.Hash             // root of the stored map with the overlay
}

func newMapWorker(cache *vmap.Cache) *mapWorker {
	w := &mapWorker{cache: cache, chunk: mapApplyChunk, index: make(map[vmap.NodeID]int32), done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	w.tree = vmap.NewTree(overlayReader{w: w})
	return w
}

// init reads the stored map's root, before the worker starts.
func (w *mapWorker) init(ctx context.Context) (vmap.Hash, error) {
	root, err := w.tree.Root(ctx)
	if err != nil {
		return vmap.Hash{}, err
	}
	w.base, w.root = root, root
	return root, nil
}

// close stops the worker goroutine and waits until it is done with what
// it took, so that it reads storage no more.
func (w *mapWorker) close() {
	w.mu.Lock()
	w.stop = true
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.done
}

// add hands over a committed batch's updates (at most one per key).
func (w *mapWorker) add(ups []vmap.Update) {
	if len(ups) == 0 {
		return
	}
	w.mu.Lock()
	w.queue = append(w.queue, ups)
	w.cond.Broadcast()
	w.mu.Unlock()
}

// run is the worker goroutine, until close.
func (w *mapWorker) run(ctx context.Context) {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.stop {
			w.cond.Wait()
		}
		if w.stop {
			w.mu.Unlock()
			return
		}
		jobs := w.queue
		w.queue = nil
		failed := w.err != nil
		w.busy = true
		w.mu.Unlock()

		var err error
		if !failed {
			err = w.apply(ctx, jobs)
		}

		w.mu.Lock()
		w.busy = false
		if err != nil && w.err == nil {
			w.err = err
		}
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// mapApplyChunk is the most updates the map worker applies in one
// Tree.Update. An update holds the nodes it reads and builds until it
// returns (BenchmarkUpdate in package vmap allocates some 11 KB per
// key), while the overlay keeps only the writes: batches that queued up
// while the worker was busy (a restart, a pause of the collector) would
// otherwise make one update of tens of thousands of keys, and a peak of
// heap that the overlay never needs. A batch of 1,000 events makes
// about 2,000 updates.
const mapApplyChunk = 2048

// apply applies batches of updates, in order, to the overlay.
func (w *mapWorker) apply(ctx context.Context, jobs [][]vmap.Update) error {
	w.reindex()
	ups := jobs[0]
	if len(jobs) > 1 {
		// Later batches override earlier ones.
		var p vmap.Pending
		for _, j := range jobs {
			p.AddUpdates(j)
		}
		ups = p.Updates()
	}
	// ups has at most one update per key, so its chunks may be applied
	// one after the other.
	for c := range slices.Chunk(ups, w.chunk) {
		d, err := w.tree.Update(ctx, c)
		if err != nil {
			return err
		}
		if d.Base != w.root {
			return errors.New("sequencer: map overlay out of step with its root")
		}
		for _, wr := range d.Writes {
			if i, ok := w.index[wr.ID]; ok {
				w.writes[i].Node = wr.Node
			} else {
				w.index[wr.ID] = int32(len(w.writes))
				w.writes = append(w.writes, wr)
			}
		}
		w.removed = append(w.removed, d.Removed...)
		w.root = d.Root
	}
	return nil
}

// reindex rebuilds the index after diff sorted the writes (and the
// map-root entry did not commit, so that the overlay goes on).
func (w *mapWorker) reindex() {
	if !w.sorted {
		return
	}
	clear(w.index)
	for i, wr := range w.writes {
		w.index[wr.ID] = int32(i)
	}
	w.sorted = false
}

// drop empties the overlay, keeping its room. The writes are zeroed so
// that the leaf values they held can be collected.
func (w *mapWorker) drop() {
	clear(w.writes)
	w.writes = w.writes[:0]
	w.removed = nil
	clear(w.index)
	w.sorted = false
}

// diff waits until every batch handed over is applied, and returns the
// overlay as a Diff from the stored map.
func (w *mapWorker) diff() (*vmap.Diff, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for (len(w.queue) > 0 || w.busy) && w.err == nil {
		w.cond.Wait()
	}
	if w.err != nil {
		return nil, w.err
	}
	// The Diff holds the overlay's own list, valid until the next add.
	slices.SortFunc(w.writes, func(a, b vmap.NodeWrite) int { return a.ID.Compare(b.ID) })
	w.sorted = true
	return &vmap.Diff{Base: w.base, Root: w.root, Writes: w.writes, Removed: w.removed}, nil
}

// committed records that d, the latest diff, is durably stored.
func (w *mapWorker) committed(d *vmap.Diff) {
	w.cache.Apply(d)
	w.drop()
	w.base = d.Root
}

// restart drops the overlay and the error, and applies ups (every update
// since the stored map) afresh. If the stored root cannot be read, the
// error stays, so that the next diff fails and restarts again.
func (w *mapWorker) restart(ctx context.Context, ups []vmap.Update) error {
	w.mu.Lock()
	for len(w.queue) > 0 || w.busy {
		w.cond.Wait()
	}
	w.mu.Unlock()
	w.drop()
	w.cache.Reset()
	_, err := w.init(ctx)
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	if err != nil {
		return err
	}
	w.add(ups)
	return nil
}

// overlayReader reads the overlay, then the stored map: below through
// r, or, if r is nil, through the worker's cache.
type overlayReader struct {
	w *mapWorker
	r vmap.NodeReader
}

// SubtreeDepth implements vmap.SubtreeReader.
func (o overlayReader) SubtreeDepth() int { return o.w.cache.SubtreeDepth() }

// ReadSubtrees implements vmap.SubtreeReader: the overlay holds every
// position the pending updates changed, so that what it does not hold is
// as the stored subtrees have it.
func (o overlayReader) ReadSubtrees(ctx context.Context, roots []vmap.NodeID) (vmap.NodeReader, error) {
	r, err := o.w.cache.ReadSubtrees(ctx, roots)
	if err != nil {
		return nil, err
	}
	return overlayReader{o.w, r}, nil
}

func (o overlayReader) ReadNodes(ctx context.Context, ids []vmap.NodeID) ([]vmap.Node, error) {
	below := vmap.NodeReader(o.w.cache)
	if o.r != nil {
		below = o.r
	}
	out := make([]vmap.Node, len(ids))
	var miss []int
	for i, id := range ids {
		if j, ok := o.w.index[id]; ok {
			out[i] = o.w.writes[j].Node
		} else {
			miss = append(miss, i)
		}
	}
	if len(miss) == 0 {
		return out, nil
	}
	if len(miss) == len(ids) {
		return below.ReadNodes(ctx, ids)
	}
	mids := make([]vmap.NodeID, len(miss))
	for j, i := range miss {
		mids[j] = ids[i]
	}
	got, err := below.ReadNodes(ctx, mids)
	if err != nil {
		return nil, err
	}
	for j, i := range miss {
		out[i] = got[j]
	}
	return out, nil
}
