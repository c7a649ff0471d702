package fsck

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
)

// Inconsistency is something stored that does not hold. Its message names
// the first such thing Check found, for example "entry 1234: leaf hash
// not in tile 0/004".
type Inconsistency struct{ msg string }

// Error implements error.
func (e *Inconsistency) Error() string { return e.msg }

func inconsistent(format string, args ...any) error {
	return &Inconsistency{msg: fmt.Sprintf(format, args...)}
}

// Progress is how far Check got in one of its stages ("entries",
// "tiles", "indexes", "state", "checkpoints", "map").
type Progress struct {
	Stage       string
	Done, Total uint64 // Total is 0 when unknown
}

// Options tunes Check.
type Options struct {
	// Progress, if set, is called at the start of each stage and then
	// every few thousand entries, indexes or checkpoints checked.
	Progress func(Progress)
}

// Report counts what Check verified.
type Report struct {
	Entries     uint64 // the tree size
	Bundles     uint64
	Tiles       uint64 // at every level
	IndexRows   uint64
	Issuers     uint64
	Credentials uint64
	Subjects    uint64
	Checkpoints uint64
	MapRoots    uint64 // map-root entries, each committing to the replayed map's root
	MapNodes    uint64 // stored map nodes
}

// progressEvery is how many entries or rows go between progress reports.
const progressEvery = 1 << 14

var rf = &compact.RangeFactory{Hash: tiles.HashChildren}

// summary is what Check remembers of one entry, to check the indexes.
type summary struct {
	leaf                [32]byte
	credential, subject entry.Hash
}

// checker is one run of Check.
type checker struct {
	ctx      context.Context
	s        storage.Storage
	origin   string
	verifier note.Verifier
	rules    *state.Rules
	opts     Options
	tree     *storage.TreeState
	entries  []summary
	replay   *state.Overlay
	vmap     *replayedMap
	rng      *compact.Range
	cache    map[[2]uint64][]byte // tiles read for proofs, by level and index
	rep      Report
}

// Check verifies the log stored in s, whose key is logKey (the log's
// origin is the key's name). It returns a report when everything holds,
// an *Inconsistency naming the first thing that does not, or another
// error when storage cannot be read.
func Check(ctx context.Context, s storage.Storage, logKey *keys.Verifier, opts Options) (*Report, error) {
	tree, err := s.Tree(ctx)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the tree state: %w", err)
	}
	c := &checker{
		ctx: ctx, s: s, opts: opts, tree: tree,
		origin: logKey.Name, verifier: logKey.NoteVerifier(),
		rules:  state.NewRules(logKey.Name, logKey.Public),
		replay: state.NewOverlay(nil), vmap: newReplayedMap(), rng: rf.NewEmptyRange(0),
		cache: make(map[[2]uint64][]byte),
	}
	for _, step := range []func() error{c.checkEntries, c.checkTiles, c.checkTree, c.checkIndexes, c.checkState, c.checkCheckpoints, c.checkMap} {
		if err := step(); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	c.rep.Entries = tree.Size
	return &c.rep, nil
}

func (c *checker) progress(stage string, done, total uint64) {
	if c.opts.Progress != nil {
		c.opts.Progress(Progress{Stage: stage, Done: done, Total: total})
	}
}

// tileName names a hash tile as its tlog-tiles path does: "tile 0/004".
func tileName(level, index uint64) string {
	return fmt.Sprintf("tile %d/%s", level, layout.NWithSuffix(level, index, 0))
}

// bundleName names an entry bundle: "entry bundle 004".
func bundleName(index uint64) string {
	return "entry bundle " + layout.NWithSuffix(0, index, 0)
}

// checkEntries reads every entry in order, checks it against its bundle
// and level-0 tile, replays it, and extends the compact range.
func (c *checker) checkEntries() error {
	size := c.tree.Size
	c.entries = make([]summary, 0, size)
	c.progress("entries", 0, size)
	for n := uint64(0); n*tiles.Width < size; n++ {
		want := min(tiles.Width, size-n*tiles.Width)
		es, err := c.readBundle(n, want)
		if err != nil {
			return err
		}
		tile, err := c.readTile(0, n, want)
		if err != nil {
			return err
		}
		if err := c.checkBundle(n*tiles.Width, es, tile); err != nil {
			return err
		}
		c.rep.Bundles++
		if done := n*tiles.Width + want; done%progressEvery == 0 || done == size {
			c.progress("entries", done, size)
		}
	}
	if err := c.absentBundle((size + tiles.Width - 1) / tiles.Width); err != nil {
		return err
	}
	return c.absentTile(0, (size+tiles.Width-1)/tiles.Width)
}

// checkBundle checks the entries of one bundle, from index first,
// against their level-0 tile, and replays them. The first failure by
// index is returned.
func (c *checker) checkBundle(first uint64, es [][]byte, tile []byte) error {
	evs := make([]*entry.Event, 0, len(es))
	leaves := make([][32]byte, 0, len(es))
	var bad error // of entry first+len(evs), which is not replayed
	for k, raw := range es {
		leaf := tiles.LeafHash(raw)
		if !bytes.Equal(leaf[:], tile[k*32:(k+1)*32]) {
			bad = inconsistent("entry %d: leaf hash not in %s", first+uint64(k), tileName(0, first/tiles.Width))
			break
		}
		ev, err := entry.Parse(raw)
		if err != nil {
			bad = inconsistent("entry %d: %v", first+uint64(k), err)
			break
		}
		evs, leaves = append(evs, ev), append(leaves, leaf)
	}
	verified := c.verifySignatures(evs)
	for k, ev := range evs {
		i := first + uint64(k)
		ch, err := c.rules.Apply(c.replay, ev, i, verified[k])
		if err != nil {
			return inconsistent("entry %d: %s event does not replay: %v", i, ev.Type, err)
		}
		c.replay.Put(ch)
		if err := c.vmap.add(c.ctx, i, ev, ch); err != nil {
			return err
		}
		if err := c.rng.Append(leaves[k][:], nil); err != nil {
			return fmt.Errorf("couldn't extend the tree: %w", err)
		}
		c.entries = append(c.entries, summary{leaf: leaves[k], credential: ev.Credential, subject: ev.Subject})
	}
	return bad
}

// verifySignatures checks, in parallel, the signature of each event under
// the key that the replayed state holds for its signer before the events
// are replayed. It returns that key for each event whose signature
// verified, and nil for the others: the rules then check the signature
// themselves, against the key they require (which differs if an earlier
// event of the same bundle rotated it).
func (c *checker) verifySignatures(evs []*entry.Event) []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, len(evs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(evs)) {
		wg.Go(func() {
			for k := range work {
				if key := c.signerKey(evs[k]); key != nil && evs[k].VerifySignature(key) == nil {
					out[k] = key
				}
			}
		})
	}
	for k := range evs {
		work <- k
	}
	close(work)
	wg.Wait()
	return out
}

// signerKey returns the key the event names, as the replayed state knows
// it, or nil. It only reads the state, and is safe for concurrent use
// while nothing is replayed.
func (c *checker) signerKey(ev *entry.Event) ed25519.PublicKey {
	if (ev.Type == entry.TypeIssuerKey || ev.Type == entry.TypeMapRoot) && ev.KeyID == c.rules.LogKeyID() {
		return c.rules.LogKey
	}
	iss, err := c.replay.Issuer(ev.Issuer)
	if err != nil || iss == nil || iss.KeyID != ev.KeyID {
		return nil
	}
	return ed25519.PublicKey(iss.PublicKey[:])
}

// readBundle reads entry bundle n and splits it into the want entries the
// tree size implies.
func (c *checker) readBundle(n, want uint64) ([][]byte, error) {
	b, err := c.s.ReadBundle(c.ctx, n)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, inconsistent("%s: missing (the tree has %d entries)", bundleName(n), c.tree.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", bundleName(n), err)
	}
	es, err := tiles.BundleEntries(b)
	if err != nil {
		return nil, inconsistent("%s: %v", bundleName(n), err)
	}
	if uint64(len(es)) != want {
		return nil, inconsistent("%s: holds %d entries, but the tree of %d entries wants %d", bundleName(n), len(es), c.tree.Size, want)
	}
	return es, nil
}

// readTile reads a hash tile that the tree size says is width hashes wide.
func (c *checker) readTile(level, index, width uint64) ([]byte, error) {
	t, err := c.s.ReadTile(c.ctx, level, index)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, inconsistent("%s: missing (the tree has %d entries)", tileName(level, index), c.tree.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", tileName(level, index), err)
	}
	if uint64(len(t)) != width*32 {
		return nil, inconsistent("%s: %d bytes, but the tree of %d entries wants %d hashes", tileName(level, index), len(t), c.tree.Size, width)
	}
	return t, nil
}

func (c *checker) absentBundle(n uint64) error {
	_, err := c.s.ReadBundle(c.ctx, n)
	switch {
	case err == nil:
		return inconsistent("%s: stored beyond the tree of %d entries", bundleName(n), c.tree.Size)
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("couldn't read %s: %w", bundleName(n), err)
	}
	return nil
}

func (c *checker) absentTile(level, index uint64) error {
	_, err := c.s.ReadTile(c.ctx, level, index)
	switch {
	case err == nil:
		return inconsistent("%s: stored beyond the tree of %d entries", tileName(level, index), c.tree.Size)
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("couldn't read %s: %w", tileName(level, index), err)
	}
	return nil
}

// checkTree compares the stored root and right edge with the compact
// range of the entries.
func (c *checker) checkTree() error {
	root := tiles.EmptyRoot
	if c.tree.Size > 0 {
		r, err := c.rng.GetRootHash(nil)
		if err != nil {
			return fmt.Errorf("couldn't compute the root: %w", err)
		}
		root = [32]byte(r)
	}
	if root != c.tree.Root {
		return inconsistent("tree: stored root %x, but the %d entries give %x", c.tree.Root, c.tree.Size, root)
	}
	edge := c.rng.Hashes()
	if len(edge) != len(c.tree.Edge) {
		return inconsistent("tree: stored right edge has %d hashes, but the entries' compact range has %d", len(c.tree.Edge), len(edge))
	}
	for i := range edge {
		if !bytes.Equal(edge[i], c.tree.Edge[i]) {
			return inconsistent("tree: hash %d of the stored right edge is %x, but the entries give %x", i, c.tree.Edge[i], edge[i])
		}
	}
	return nil
}
