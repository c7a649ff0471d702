// Package faulty wraps a storage.Storage and injects faults on demand, for
// tests of how the log behaves when its database fails: a Commit that
// fails before writing anything, a Commit whose batch is written but which
// still reports an error (the connection dropped after the database
// committed), failing checkpoint writes, and failing reads.
//
// It is meant for tests only; nothing in a server uses it.
package faulty

import (
	"context"
	"errors"
	"sync"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/vmap"
)

// ErrInjected is the error every injected fault returns (wrapped or as it
// is).
var ErrInjected = errors.New("faulty: injected storage fault")

// CommitMode says what Commit does.
type CommitMode int

const (
	// CommitOK passes Commit through to the wrapped storage.
	CommitOK CommitMode = iota
	// CommitFailBefore fails Commit without writing anything.
	CommitFailBefore
	// CommitFailAfter writes the batch through the wrapped storage and,
	// if that succeeded, returns ErrInjected anyway.
	CommitFailAfter
)

// Storage is a storage.Storage that fails on demand. Its zero faults pass
// everything through. It is safe for concurrent use.
type Storage struct {
	storage.Storage

	mu         sync.Mutex
	commit     CommitMode
	checkpoint bool // fail PutCheckpoint
	reads      bool // fail reads
	mapReads   bool // fail ReadNodes
	commits    int  // Commit calls
	failed     int  // Commit calls answered with ErrInjected
}

// New wraps s.
func New(s storage.Storage) *Storage { return &Storage{Storage: s} }

// FailCommits sets what the following Commit calls do.
func (s *Storage) FailCommits(m CommitMode) {
	s.mu.Lock()
	s.commit = m
	s.mu.Unlock()
}

// FailCheckpoints makes PutCheckpoint fail without writing (fail true) or
// pass through (fail false).
func (s *Storage) FailCheckpoints(fail bool) {
	s.mu.Lock()
	s.checkpoint = fail
	s.mu.Unlock()
}

// FailReads makes every read fail (fail true) or pass through (fail
// false).
func (s *Storage) FailReads(fail bool) {
	s.mu.Lock()
	s.reads = fail
	s.mu.Unlock()
}

// FailMapReads makes ReadNodes fail (fail true) or pass through (fail
// false), whatever FailReads says of other reads.
func (s *Storage) FailMapReads(fail bool) {
	s.mu.Lock()
	s.mapReads = fail
	s.mu.Unlock()
}

// Commits returns how many times Commit was called and how many of those
// calls returned ErrInjected.
func (s *Storage) Commits() (calls, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commits, s.failed
}

func (s *Storage) readErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reads {
		return ErrInjected
	}
	return nil
}

// Commit implements storage.Storage, failing as FailCommits says.
func (s *Storage) Commit(ctx context.Context, b *storage.Batch) error {
	s.mu.Lock()
	m := s.commit
	s.commits++
	s.mu.Unlock()
	switch m {
	case CommitFailBefore:
		s.countFailed()
		return ErrInjected
	case CommitFailAfter:
		if err := s.Storage.Commit(ctx, b); err != nil {
			return err
		}
		s.countFailed()
		return ErrInjected
	}
	return s.Storage.Commit(ctx, b)
}

func (s *Storage) countFailed() {
	s.mu.Lock()
	s.failed++
	s.mu.Unlock()
}

// PutCheckpoint implements storage.Storage, failing as FailCheckpoints
// says.
func (s *Storage) PutCheckpoint(ctx context.Context, size uint64, signed []byte) error {
	s.mu.Lock()
	fail := s.checkpoint
	s.mu.Unlock()
	if fail {
		return ErrInjected
	}
	return s.Storage.PutCheckpoint(ctx, size, signed)
}

// Issuer implements state.Reader.
func (s *Storage) Issuer(name string) (*state.Issuer, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.Issuer(name)
}

// Credential implements state.Reader.
func (s *Storage) Credential(issuer string, id entry.Hash) (*state.Credential, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.Credential(issuer, id)
}

// Subject implements state.Reader.
func (s *Storage) Subject(issuer string, label entry.Hash) (*state.Subject, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.Subject(issuer, label)
}

// ReadNodes implements vmap.NodeReader.
func (s *Storage) ReadNodes(ctx context.Context, ids []vmap.NodeID) ([]vmap.Node, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	fail := s.mapReads
	s.mu.Unlock()
	if fail {
		return nil, ErrInjected
	}
	return s.Storage.ReadNodes(ctx, ids)
}

// MapRoot implements storage.Storage.
func (s *Storage) MapRoot(ctx context.Context) (*storage.MapRoot, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.MapRoot(ctx)
}

// Tree implements storage.Storage.
func (s *Storage) Tree(ctx context.Context) (*storage.TreeState, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.Tree(ctx)
}

// LatestCheckpoint implements storage.Storage.
func (s *Storage) LatestCheckpoint(ctx context.Context) (uint64, []byte, error) {
	if err := s.readErr(); err != nil {
		return 0, nil, err
	}
	return s.Storage.LatestCheckpoint(ctx)
}

// Checkpoint implements storage.Storage.
func (s *Storage) Checkpoint(ctx context.Context, size uint64) ([]byte, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.Checkpoint(ctx, size)
}

// ReadTile implements storage.Storage.
func (s *Storage) ReadTile(ctx context.Context, level, index uint64) ([]byte, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.ReadTile(ctx, level, index)
}

// ReadBundle implements storage.Storage.
func (s *Storage) ReadBundle(ctx context.Context, index uint64) ([]byte, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.ReadBundle(ctx, index)
}

// LookupLeaf implements storage.Storage.
func (s *Storage) LookupLeaf(ctx context.Context, leafHash [32]byte) (uint64, error) {
	if err := s.readErr(); err != nil {
		return 0, err
	}
	return s.Storage.LookupLeaf(ctx, leafHash)
}

// LookupLeaves implements storage.Storage.
func (s *Storage) LookupLeaves(ctx context.Context, hashes [][32]byte) (map[[32]byte]uint64, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.LookupLeaves(ctx, hashes)
}

// ReadState implements storage.Storage.
func (s *Storage) ReadState(ctx context.Context, creds, subjects []storage.RecordKey) (map[storage.RecordKey]*state.Credential, map[storage.RecordKey]*state.Subject, error) {
	if err := s.readErr(); err != nil {
		return nil, nil, err
	}
	return s.Storage.ReadState(ctx, creds, subjects)
}

// ByCredential implements storage.Storage.
func (s *Storage) ByCredential(ctx context.Context, id entry.Hash) ([]uint64, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.ByCredential(ctx, id)
}

// BySubject implements storage.Storage.
func (s *Storage) BySubject(ctx context.Context, label entry.Hash) ([]uint64, error) {
	if err := s.readErr(); err != nil {
		return nil, err
	}
	return s.Storage.BySubject(ctx, label)
}

// Checkpoints implements storage.Storage.
func (s *Storage) Checkpoints(ctx context.Context, fn func(size uint64, signed []byte) error) error {
	if err := s.readErr(); err != nil {
		return err
	}
	return s.Storage.Checkpoints(ctx, fn)
}

// ScanIndex implements storage.Storage.
func (s *Storage) ScanIndex(ctx context.Context, kind storage.IndexKind, fn func(key [32]byte, index uint64) error) error {
	if err := s.readErr(); err != nil {
		return err
	}
	return s.Storage.ScanIndex(ctx, kind, fn)
}

// ScanState implements storage.Storage.
func (s *Storage) ScanState(ctx context.Context, v storage.StateVisitor) error {
	if err := s.readErr(); err != nil {
		return err
	}
	return s.Storage.ScanState(ctx, v)
}

// ScanMapNodes implements storage.Storage.
func (s *Storage) ScanMapNodes(ctx context.Context, fn func(vmap.NodeID, vmap.Node) error) error {
	if err := s.readErr(); err != nil {
		return err
	}
	return s.Storage.ScanMapNodes(ctx, fn)
}

var _ storage.Storage = (*Storage)(nil)
