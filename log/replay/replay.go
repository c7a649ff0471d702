package replay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/vmap"
)

// Fetcher reads a log's tiles and entry bundles in the C2SP tlog-tiles
// layout. tessera's *client.HTTPFetcher and client.FileFetcher are
// Fetchers. It returns an error wrapping os.ErrNotExist for a resource the
// log does not have.
type Fetcher interface {
	ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error)
	ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error)
}

// Entry is one replayed entry, as Options.OnEntry sees it.
type Entry struct {
	Index uint64
	// Raw is the entry's bytes. The callback may keep it but must not
	// modify it.
	Raw []byte
	// Event is the parsed entry; nil only when Err is an ErrMalformed
	// *EntryError.
	Event *entry.Event
	// Change is what the entry changed in the state; nil when Err is set,
	// except for a map-root entry with a wrong root (it changes nothing).
	Change *state.Change
	// Err is nil, or the *EntryError of the one entry that failed a
	// check; it is passed to OnEntry only once the checkpoint's root
	// confirmed the entry, and Advance then returns it.
	Err error
}

// Options configure a Replayer.
type Options struct {
	// HashesOnly checks the tree only: entries are hashed, not parsed,
	// verified or replayed, and OnEntry is not called.
	HashesOnly bool
	// OnEntry, if not nil, is called for each entry in index order, on
	// the goroutine that called Advance. An error stops Advance, which
	// returns it; that entry and those before it stay replayed, and the
	// next Advance goes on after it.
	OnEntry func(*Entry) error
	// OnProgress, if not nil, is called with Size after each chunk of
	// entries (a few thousand) is replayed, on the goroutine that called
	// Advance, in both modes.
	OnProgress func(size uint64)
	// Workers is the number of goroutines that hash, parse and verify
	// entries; 0 means runtime.GOMAXPROCS(0).
	Workers int
	// Fetches is the number of entry bundles fetched concurrently; 0
	// means 32.
	Fetches int
}

// chunkSize is how many entries are verified together, and the unit of
// the pipeline between the verifying workers and the state rules.
const chunkSize = 2048

// Replayer replays one log from index 0. It is not safe for concurrent
// use: one Advance at a time.
type Replayer struct {
	origin string
	logKey ed25519.PublicKey
	logID  uint32
	f      Fetcher
	opts   Options

	rb   *vmap.Rebuilder // nil with HashesOnly
	rf   *compact.RangeFactory
	tree *compact.Range
	// keys are the keys the log's issuer-key events named, by issuer and
	// key ID: the keys signatures are checked under ahead of the rules,
	// which then only confirm the key is the one they require. Only the
	// prepareAll goroutine of Advance uses it.
	keys map[keyRef]ed25519.PublicKey
	cp   *Checkpoint
	err  error
}

type keyRef struct {
	issuer string
	id     uint32
}

// New returns a Replayer at index 0 of the log named origin whose key is
// logKey, reading it with f.
func New(origin string, logKey ed25519.PublicKey, f Fetcher, opts Options) *Replayer {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Fetches <= 0 {
		opts.Fetches = 32
	}
	rf := &compact.RangeFactory{Hash: tiles.HashChildren}
	r := &Replayer{
		origin: origin, logKey: logKey, logID: keys.KeyID(origin, logKey), f: f, opts: opts,
		rf: rf, tree: rf.NewEmptyRange(0), keys: make(map[keyRef]ed25519.PublicKey),
	}
	if !opts.HashesOnly {
		r.rb = vmap.NewRebuilder(state.NewRules(origin, logKey))
	}
	return r
}

// Size returns the number of entries replayed. After Advance returns
// nil it is the checkpoint's size; after a fetch error it may be more
// than the last verified checkpoint's.
func (r *Replayer) Size() uint64 { return r.tree.End() }

// Root returns the tree root over the entries replayed.
func (r *Replayer) Root() []byte {
	if r.tree.End() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	h, err := r.tree.GetRootHash(nil)
	if err != nil {
		panic(err) // a non-empty range from 0 always has a root
	}
	return h
}

// Checkpoint returns the last checkpoint Advance reached, or nil.
func (r *Replayer) Checkpoint() *Checkpoint { return r.cp }

// State returns the state after the entries replayed (nil with
// HashesOnly). It must not be used during Advance.
func (r *Replayer) State() state.Reader {
	if r.rb == nil {
		return nil
	}
	return r.rb.State()
}

// MapRoots returns the number of map-root entries checked.
func (r *Replayer) MapRoots() uint64 {
	if r.rb == nil {
		return 0
	}
	return r.rb.MapRoots()
}

// Err returns the error that failed the Replayer for good, or nil.
func (r *Replayer) Err() error { return r.err }

// item is one entry in the pipeline.
type item struct {
	raw      []byte
	leaf     [32]byte
	ev       *entry.Event
	parseErr error
	verified ed25519.PublicKey // the key ev's signature verified under, or nil
}

// chunk is a run of consecutive entries, or the error that ended the
// fetching.
type chunk struct {
	first uint64
	items []item
	// hashes is the compact range of the chunk's leaves, which the
	// workers build with HashesOnly.
	hashes *compact.Range
	err    error
}

// Advance replays the entries [Size, cp.Size) and checks that the tree of
// all entries has cp's root. cp must be of the Replayer's log and already
// verified (VerifyCheckpoint). It returns nil only if every check holds;
// see the package documentation for the errors and what they leave.
func (r *Replayer) Advance(ctx context.Context, cp *Checkpoint) error {
	if r.err != nil {
		return r.err
	}
	if cp.Origin != r.origin {
		return fmt.Errorf("replay: checkpoint is of log %q, not %q", cp.Origin, r.origin)
	}
	start := r.tree.End()
	if cp.Size < start {
		return fmt.Errorf("replay: checkpoint of size %d is behind the %d entries replayed", cp.Size, start)
	}
	startHashes := append([][]byte(nil), r.tree.Hashes()...)

	ctx, cancel := context.WithCancel(ctx)
	fetched, chunks := make(chan *chunk, 2), make(chan *chunk, 2)
	go r.produce(ctx, start, cp.Size, cp, fetched)
	go r.prepareAll(ctx, fetched, chunks)
	stop := func() {
		cancel()
		for range chunks {
		}
	}
	defer stop()

	var fail failure
	for c := range chunks {
		if c.err != nil {
			if te := (*TreeError)(nil); errors.As(c.err, &te) {
				r.err = te
				return te
			}
			if fail.err != nil {
				// Not an *EntryError: without the root, the entry is
				// not known to be the one the log committed to.
				r.err = fmt.Errorf("replay: entry %d failed a check (%s), and the entries after it could not be fetched to confirm it against the checkpoint: %w", fail.err.Index, fail.err.Err, c.err)
				return r.err
			}
			return c.err
		}
		if err := r.extend(ctx, c, cp, &fail); err != nil {
			return err
		}
		if r.opts.OnProgress != nil {
			r.opts.OnProgress(r.tree.End())
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.tree.End() != cp.Size {
		return fmt.Errorf("replay: fetched %d entries, want %d", r.tree.End()-start, cp.Size-start)
	}
	if root := r.Root(); !bytes.Equal(root, cp.Hash) {
		r.err = r.locate(ctx, start, startHashes, cp, root)
		return r.err
	}
	if fail.err != nil {
		fail.entry.Err = fail.err
		r.err = fail.err
		if r.opts.OnEntry != nil {
			r.opts.OnEntry(fail.entry)
		}
		return fail.err
	}
	r.cp = cp
	return nil
}

// failure is the first entry of an Advance that failed a check, held
// until the tree root confirms it.
type failure struct {
	err   *EntryError
	entry *Entry
}

// extend adds the chunk c to the tree and, unless only hashes are
// checked, replays its entries up to the first that fails a check, which
// it records in fail. It returns an error that ends Advance.
func (r *Replayer) extend(ctx context.Context, c *chunk, cp *Checkpoint, fail *failure) error {
	if c.hashes != nil {
		if err := r.tree.AppendRange(c.hashes, nil); err != nil {
			return fmt.Errorf("replay: couldn't extend the tree: %w", err)
		}
		return nil
	}
	for i := range c.items {
		it := &c.items[i]
		if err := r.tree.Append(it.leaf[:], nil); err != nil {
			return fmt.Errorf("replay: couldn't extend the tree: %w", err)
		}
		if fail.err != nil {
			continue
		}
		e := &Entry{Index: c.first + uint64(i), Raw: it.raw, Event: it.ev}
		var err error
		if e.Change, fail.err, err = r.replayOne(ctx, e.Index, it, cp); err != nil {
			r.err = fmt.Errorf("replay: entry %d: %w", e.Index, err)
			return r.err
		}
		if fail.err != nil {
			fail.entry = e
			continue
		}
		if r.opts.OnEntry != nil {
			if err := r.opts.OnEntry(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// replayOne applies the state rules to one entry. A failed check is an
// *EntryError; err is any other failure.
func (r *Replayer) replayOne(ctx context.Context, idx uint64, it *item, cp *Checkpoint) (*state.Change, *EntryError, error) {
	fail := func(class, cause error) *EntryError {
		return &EntryError{Class: class, Index: idx, Entry: it.raw, Checkpoint: cp, Err: cause}
	}
	if it.parseErr != nil {
		return nil, fail(ErrMalformed, it.parseErr), nil
	}
	ch, err := r.rb.AddEvent(ctx, it.ev, it.verified)
	if err == nil {
		return ch, nil, nil
	}
	if mm := (*vmap.MismatchError)(nil); errors.As(err, &mm) {
		return ch, fail(ErrMapRoot, mm), nil
	}
	ee := (*vmap.EntryError)(nil)
	if !errors.As(err, &ee) {
		return nil, nil, err
	}
	if v := (*state.Violation)(nil); errors.As(ee.Err, &v) {
		if v.Rule == state.RuleBadSignature {
			return nil, fail(ErrSignature, v), nil
		}
		return nil, fail(ErrRule, v), nil
	}
	if errors.Is(ee.Err, entry.ErrMalformed) {
		return nil, fail(ErrMalformed, ee.Err), nil
	}
	return nil, nil, ee.Err
}

// produce fetches the entries [start, end) in chunks and sends each to
// out, which it closes at the end. It runs ahead of prepareAll, so that
// fetching and splitting the bundles of one chunk overlaps the hashing
// (and verifying) of the one before.
func (r *Replayer) produce(ctx context.Context, start, end uint64, cp *Checkpoint, out chan<- *chunk) {
	defer close(out)
	send := func(c *chunk) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	c := &chunk{first: start, items: make([]item, 0, chunkSize)}
	for b, err := range r.bundles(ctx, start, end) {
		if err != nil {
			send(&chunk{err: err})
			return
		}
		entries, err := bundleEntries(b)
		if err != nil {
			send(&chunk{err: &TreeError{Checkpoint: cp, From: start, Located: true, Index: b.RangeInfo.Index*layout.EntryBundleWidth + uint64(b.RangeInfo.First), Detail: err.Error()}})
			return
		}
		for _, e := range entries {
			c.items = append(c.items, item{raw: e})
			if len(c.items) == chunkSize {
				if !send(c) {
					return
				}
				c = &chunk{first: c.first + chunkSize, items: make([]item, 0, chunkSize)}
			}
		}
	}
	if len(c.items) > 0 {
		send(c)
	}
}

// prepareAll prepares the chunks from in, one after another (the keys
// that one chunk's issuer-key events name are used to verify the next),
// and sends them to out, which it closes when in is closed. A chunk that
// carries an error is passed on as it is.
func (r *Replayer) prepareAll(ctx context.Context, in <-chan *chunk, out chan<- *chunk) {
	defer close(out)
	defer func() {
		for range in {
		}
	}()
	for c := range in {
		if c.err == nil {
			r.prepare(c)
		}
		select {
		case out <- c:
		case <-ctx.Done():
			return
		}
	}
}

// bundles yields the entry bundles that hold [start, end), in order.
func (r *Replayer) bundles(ctx context.Context, start, end uint64) func(func(client.Bundle, error) bool) {
	size := func(context.Context) (uint64, error) { return end, nil }
	return func(yield func(client.Bundle, error) bool) {
		for b, err := range client.EntryBundles(ctx, uint(r.opts.Fetches), size, r.f.ReadEntryBundle, start, end-start) {
			if err != nil {
				yield(b, fmt.Errorf("couldn't fetch entry bundle: %w", err))
				return
			}
			if !yield(b, nil) {
				return
			}
		}
	}
}

// bundleEntries returns the entries of b in its range. A bundle must hold
// exactly its width of entries (a full one may stand in for a partial
// one, as tlog-tiles allows).
func bundleEntries(b client.Bundle) ([][]byte, error) {
	var eb api.EntryBundle
	if err := eb.UnmarshalText(b.Data); err != nil {
		return nil, fmt.Errorf("entry bundle %d does not parse: %v", b.RangeInfo.Index, err)
	}
	n := len(eb.Entries)
	if n != layout.EntryBundleWidth && (b.RangeInfo.Partial == 0 || n != int(b.RangeInfo.Partial)) {
		want := layout.EntryBundleWidth
		if b.RangeInfo.Partial != 0 {
			want = int(b.RangeInfo.Partial)
		}
		return nil, fmt.Errorf("entry bundle %d holds %d entries, want %d", b.RangeInfo.Index, n, want)
	}
	return eb.Entries[b.RangeInfo.First : b.RangeInfo.First+b.RangeInfo.N], nil
}

// prepare hashes, parses and verifies the chunk's items on the workers,
// then records the keys that issuer-key events among them name. With
// HashesOnly each worker also hashes its part of the chunk into a compact
// range, so that the tree's interior hashes are computed in parallel too.
func (r *Replayer) prepare(c *chunk) {
	items := c.items
	per := (len(items) + r.opts.Workers - 1) / r.opts.Workers
	parts := make([]*compact.Range, 0, r.opts.Workers)
	var wg sync.WaitGroup
	for lo := 0; lo < len(items); lo += per {
		part := items[lo:min(lo+per, len(items))]
		var rg *compact.Range
		if r.opts.HashesOnly {
			rg = r.rf.NewEmptyRange(c.first + uint64(lo))
			parts = append(parts, rg)
		}
		wg.Go(func() {
			for i := range part {
				r.prepareOne(&part[i])
				if rg != nil {
					rg.Append(part[i].leaf[:], nil) // cannot fail: the hashes are 32 bytes
				}
			}
		})
	}
	wg.Wait()
	if r.opts.HashesOnly {
		c.hashes = parts[0]
		for _, p := range parts[1:] {
			c.hashes.AppendRange(p, nil) // cannot fail: the parts are adjacent
		}
		return
	}
	for i := range items {
		if ev := items[i].ev; ev != nil && ev.Type == entry.TypeIssuerKey {
			pub := ed25519.PublicKey(bytes.Clone(ev.PublicKey[:]))
			r.keys[keyRef{ev.Issuer, keys.KeyID(ev.Issuer, pub)}] = pub
		}
	}
}

// prepareOne hashes it and, unless only hashes are checked, parses it and
// verifies its signature under the key it names, if known.
func (r *Replayer) prepareOne(it *item) {
	it.leaf = tiles.LeafHash(it.raw)
	if r.opts.HashesOnly {
		return
	}
	it.ev, it.parseErr = entry.Parse(it.raw)
	if it.parseErr != nil {
		return
	}
	key := r.candidateKey(it.ev)
	if key != nil && it.ev.VerifySignature(key) == nil {
		it.verified = key
	}
}

// candidateKey returns the key ev names, if the log named it before the
// current chunk: the state rules decide whether it is the right one.
func (r *Replayer) candidateKey(ev *entry.Event) ed25519.PublicKey {
	if ev.Type == entry.TypeMapRoot || (ev.Type == entry.TypeIssuerKey && ev.KeyID == r.logID) {
		return r.logKey
	}
	return r.keys[keyRef{ev.Issuer, ev.KeyID}]
}

// locate explains a root mismatch: if the log's level-0 tiles give the
// checkpoint's root, the first entry served whose leaf hash differs from
// theirs is the bad one.
func (r *Replayer) locate(ctx context.Context, start uint64, startHashes [][]byte, cp *Checkpoint, computed []byte) *TreeError {
	te := &TreeError{Checkpoint: cp, From: start, Computed: computed}
	n := cp.Size - start
	leaves, err := client.FetchLeafHashes(ctx, r.f.ReadTile, start, n, cp.Size)
	if err != nil || uint64(len(leaves)) != n {
		return te
	}
	rg, err := r.rf.NewRange(0, start, startHashes)
	if err != nil {
		return te
	}
	for _, l := range leaves {
		if err := rg.Append(l, nil); err != nil {
			return te
		}
	}
	if root, err := rg.GetRootHash(nil); err != nil || !bytes.Equal(root, cp.Hash) {
		return te
	}
	i := start
	for b, err := range r.bundles(ctx, start, cp.Size) {
		if err != nil {
			return te
		}
		entries, err := bundleEntries(b)
		if err != nil {
			return te
		}
		for _, e := range entries {
			if !bytes.Equal(rfc6962.DefaultHasher.HashLeaf(e), leaves[i-start]) {
				te.Located, te.Index, te.Entry = true, i, bytes.Clone(e)
				return te
			}
			i++
		}
	}
	return te
}
