// Package storage defines what credlog's log server needs from a database,
// and the durability contract every engine must keep. Engines live in
// sub-packages (sqlite, postgres); storagetest is the conformance
// suite each of them runs.
package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/vmap"
)

// ErrNotFound is returned by reads of things that do not exist (yet).
var ErrNotFound = errors.New("storage: not found")

// ConflictError is returned by Commit when the batch does not start at the
// stored tree size: another sequencer appended first, or the caller's view
// is stale. Nothing was written.
type ConflictError struct {
	Stored uint64 // the stored tree size
	Start  uint64 // the batch's start
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("storage: batch starts at %d but the stored tree has %d entries", e.Start, e.Stored)
}

// TreeState is the committed state of the Merkle tree.
type TreeState struct {
	Size uint64
	Root [32]byte
	// Edge is the right edge of the tree: the hashes of the compact range
	// [0, Size), as transparency-dev/merkle's compact.Range holds them.
	Edge [][]byte
}

// Entry is what the indexes record of one entry.
type Entry struct {
	Index      uint64
	LeafHash   [32]byte   // RFC 6962 leaf hash of the entry bytes
	Issuer     string     // event issuer ("" is never stored)
	Credential entry.Hash // zero for events without a credential
	Subject    entry.Hash // zero for events without a subject
}

// RecordKey names a credential (by ID) or a subject (by label) of an
// issuer.
type RecordKey struct {
	Issuer string
	ID     entry.Hash
}

// Tile is the current content of one tlog-tiles hash tile: Width()
// hashes. Partial tiles are overwritten as they grow; a tile's content is
// always a prefix of its final content.
type Tile struct {
	Level, Index uint64
	Data         []byte
}

// Bundle is the current content of one entry bundle: uint16
// length-prefixed entries, as tlog-tiles serves them. Partial bundles are
// overwritten as they grow.
type Bundle struct {
	Index uint64
	Data  []byte
}

// Batch is one durable step of the log.
//
// An entry naming a credential (subject) is listed with that record, by
// the record's issuer, key and the entry's index (ByCredential,
// BySubject): the batch's State must change that record, as the rules
// change both records of every event naming them (Check).
type Batch struct {
	Start   uint64    // tree size before the batch
	Entries []Entry   // in index order, from Start
	Tiles   []Tile    // every tile the batch changed
	Bundles []Bundle  // every bundle the batch changed
	Tree    TreeState // the tree after the batch
	State   *state.Changes

	// Map, if not nil, is the update of the verifiable map (package vmap)
	// that the batch commits: the pending map updates of the entries
	// before the map-root entry at MapIndex, which the batch appends and
	// whose root is Map.Root. Commit writes it in the batch's transaction
	// after checking that the stored map root is Map.Base (otherwise an
	// error, and nothing is written), so the stored map is always the map
	// of the latest map-root entry.
	Map      *vmap.Diff
	MapIndex uint64
}

// Check reports whether b is a batch Commit may write: its entries are
// numbered from Start, it ends at Tree.Size, and every credential and
// subject its entries name is among its State's records (Postings).
func (b *Batch) Check() error {
	_, _, err := b.CheckPostings()
	return err
}

// CheckPostings is Check, and returns the batch's Postings: for an engine
// that writes them, so that they are computed once.
func (b *Batch) CheckPostings() (creds, subjects map[RecordKey][]uint64, err error) {
	if b.Tree.Size != b.Start+uint64(len(b.Entries)) {
		return nil, nil, fmt.Errorf("storage: batch of %d entries from %d ends at tree size %d", len(b.Entries), b.Start, b.Tree.Size)
	}
	for i, e := range b.Entries {
		if e.Index != b.Start+uint64(i) {
			return nil, nil, fmt.Errorf("storage: batch entry %d has index %d, want %d", i, e.Index, b.Start+uint64(i))
		}
	}
	return b.Postings()
}

// Postings returns the indices of the batch's entries naming each
// credential and each subject, in index order, by record key (the
// entry's issuer and the credential's ID or the subject's label). It is
// an error for an entry to name a record that b.State does not change.
func (b *Batch) Postings() (creds, subjects map[RecordKey][]uint64, err error) {
	var zero entry.Hash
	creds, subjects = map[RecordKey][]uint64{}, map[RecordKey][]uint64{}
	for _, e := range b.Entries {
		if e.Credential != zero {
			k := RecordKey{e.Issuer, e.Credential}
			creds[k] = append(creds[k], e.Index)
		}
		if e.Subject != zero {
			k := RecordKey{e.Issuer, e.Subject}
			subjects[k] = append(subjects[k], e.Index)
		}
	}
	if len(creds) == 0 && len(subjects) == 0 {
		return creds, subjects, nil
	}
	changedCred, changedSubj := map[RecordKey]bool{}, map[RecordKey]bool{}
	if b.State != nil {
		for _, c := range b.State.Credentials {
			changedCred[RecordKey{c.Issuer, c.ID}] = true
		}
		for _, su := range b.State.Subjects {
			changedSubj[RecordKey{su.Issuer, su.Label}] = true
		}
	}
	for _, e := range b.Entries {
		if e.Credential != zero && !changedCred[RecordKey{e.Issuer, e.Credential}] {
			return nil, nil, fmt.Errorf("storage: entry %d names credential %x of %q, whose record the batch does not change", e.Index, e.Credential, e.Issuer)
		}
		if e.Subject != zero && !changedSubj[RecordKey{e.Issuer, e.Subject}] {
			return nil, nil, fmt.Errorf("storage: entry %d names subject %x of %q, whose record the batch does not change", e.Index, e.Subject, e.Issuer)
		}
	}
	return creds, subjects, nil
}

// MapRoot is the root of the stored map and the index of the map-root
// entry that commits to it.
type MapRoot struct {
	Index uint64
	Root  vmap.Hash
}

// SetTree fills in the tiles, bundles and tree state of b from the
// tiles builder's update for the batch's entries.
func (b *Batch) SetTree(u *tiles.Update) {
	for id, t := range u.Tiles {
		b.Tiles = append(b.Tiles, Tile{Level: id.Level, Index: id.Index, Data: t})
	}
	for i, d := range u.Bundles {
		b.Bundles = append(b.Bundles, Bundle{Index: i, Data: d})
	}
	b.Tree = TreeState{Size: u.Size, Root: u.Root, Edge: u.Edge}
}

// Storage is a log's database.
//
// Durability contract: when Commit or PutCheckpoint returns nil, what it
// wrote is durable (it survives a crash of the process and of the machine)
// and visible to every read. Commit is atomic: after an error, including a
// crash at any point, either the whole batch is stored or none of it.
// Reads never observe part of a batch.
//
// A Storage is safe for concurrent use, but only one sequencer may Commit;
// Commit detects a second one through ConflictError.
type Storage interface {
	state.Reader

	// ReadNodes reads nodes of the stored map (vmap.NodeReader), all ids
	// of one call in one read transaction; absent positions are empty
	// nodes.
	vmap.NodeReader
	// MapRoot returns the root of the stored map and the index of its
	// map-root entry, as the latest batch with a Map wrote them, or
	// ErrNotFound if no batch had one.
	MapRoot(ctx context.Context) (*MapRoot, error)

	// Tree returns the committed tree state. An empty log has Size 0.
	Tree(ctx context.Context) (*TreeState, error)
	// Commit durably and atomically writes a batch whose Start must equal
	// the stored size (otherwise *ConflictError and nothing is written).
	// A batch that Batch.Check refuses is refused, and nothing is written.
	Commit(ctx context.Context, b *Batch) error

	// PutCheckpoint durably stores a published signed checkpoint of the
	// given size; it becomes the latest. Checkpoints are kept forever.
	// Storing a checkpoint of a size at or below the latest is an error.
	PutCheckpoint(ctx context.Context, size uint64, signed []byte) error
	// LatestCheckpoint returns the latest published checkpoint, or
	// ErrNotFound.
	LatestCheckpoint(ctx context.Context) (size uint64, signed []byte, err error)
	// Checkpoint returns the published checkpoint of exactly this size.
	Checkpoint(ctx context.Context, size uint64) ([]byte, error)

	// ReadTile returns a hash tile's current content, or ErrNotFound.
	ReadTile(ctx context.Context, level, index uint64) ([]byte, error)
	// ReadBundle returns an entry bundle's current content, or ErrNotFound.
	ReadBundle(ctx context.Context, index uint64) ([]byte, error)

	// LookupLeaf returns the index of the entry with this leaf hash, or
	// ErrNotFound.
	LookupLeaf(ctx context.Context, leafHash [32]byte) (uint64, error)
	// LookupLeaves returns the indices of the entries whose leaf hashes
	// are among hashes; hashes not logged are absent from the map.
	LookupLeaves(ctx context.Context, hashes [][32]byte) (map[[32]byte]uint64, error)
	// ReadState returns, in one round trip per few hundred keys, the
	// stored credentials and subjects with these keys; keys not stored are
	// absent from the maps. The sequencer reads a whole batch's state with
	// it before applying the rules.
	ReadState(ctx context.Context, creds, subjects []RecordKey) (map[RecordKey]*state.Credential, map[RecordKey]*state.Subject, error)
	// ByCredential returns the indices of the entries naming a credential
	// ID, in ascending order.
	ByCredential(ctx context.Context, id entry.Hash) ([]uint64, error)
	// BySubject returns the indices of the entries naming a subject label,
	// in ascending order.
	BySubject(ctx context.Context, label entry.Hash) ([]uint64, error)

	// Whole-table reads, for offline checkers (credlog fsck). Each calls
	// its function once per stored row, in the order stated; an error
	// from the function stops the read and is returned as it is. The
	// rows are committed ones, but two reads may see different commits.

	// Checkpoints calls fn with every stored checkpoint, by ascending
	// size.
	Checkpoints(ctx context.Context, fn func(size uint64, signed []byte) error) error
	// ScanIndex calls fn with every row of one lookup index, by ascending
	// entry index and then key. The key is the leaf hash, credential ID
	// or subject label that the row maps to the entry index.
	ScanIndex(ctx context.Context, kind IndexKind, fn func(key [32]byte, index uint64) error) error
	// ScanState calls v's functions with every stored issuer, then every
	// credential, then every subject record, each table in no particular
	// order. A nil function skips its table.
	ScanState(ctx context.Context, v StateVisitor) error
	// ScanMapNodes calls fn with every node of the map (package vmap),
	// each once, in an order of the store's (the nodes a store computes
	// from the leaves below them are passed too). Empty subtrees store
	// nothing and are never passed. A stored node
	// that does not parse at its position stops the read with an error
	// wrapping vmap.ParseNode's (vmap.ErrMalformed or vmap.ErrCorrupt).
	ScanMapNodes(ctx context.Context, fn func(vmap.NodeID, vmap.Node) error) error

	Close() error
}

// WriterReads is implemented by a Storage whose reads are cheaper through
// the connection that commits. The sequencer, the one committer, makes
// its own reads (LookupLeaves, ReadState, the state.Reader methods) and
// its map worker's (ReadNodes) through ForWriter's view, which is safe
// for concurrent use; everything else reads through the Storage itself.
// Closing the view does nothing.
type WriterReads interface {
	ForWriter() Storage
}

// IndexKind names one of the lookup indexes that Commit writes from
// Batch.Entries.
type IndexKind int

// The lookup indexes.
const (
	// LeafIndex maps every entry's leaf hash to its index (LookupLeaf).
	LeafIndex IndexKind = iota
	// CredentialIndex maps a credential ID to each entry naming it
	// (ByCredential); entries without a credential have no row.
	CredentialIndex
	// SubjectIndex maps a subject label to each entry naming it
	// (BySubject); entries without a subject have no row.
	SubjectIndex
)

// String returns the index's name, as error messages name it.
func (k IndexKind) String() string {
	switch k {
	case LeafIndex:
		return "leaf-hash index"
	case CredentialIndex:
		return "credential index"
	case SubjectIndex:
		return "subject index"
	}
	return fmt.Sprintf("index kind %d", int(k))
}

// StateVisitor receives the stored state records of ScanState.
type StateVisitor struct {
	Issuer     func(*state.Issuer) error
	Credential func(*state.Credential) error
	Subject    func(*state.Subject) error
}
