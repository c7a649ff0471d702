package sqlite

import (
	"context"
	"fmt"

	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/vmap"
)

// Checkpoints implements storage.Storage.
func (s *Storage) Checkpoints(ctx context.Context, fn func(size uint64, signed []byte) error) error {
	var size uint64
	var note []byte
	return s.scan(ctx, "checkpoints", "SELECT size, note FROM checkpoints ORDER BY size",
		[]any{&size, &note}, func() error { return fn(size, note) })
}

// ScanIndex implements storage.Storage. The credential and subject
// indexes are the records' lists of entries (postings.go), which it reads
// whole and sorts in memory: some 40 bytes per entry of the log.
func (s *Storage) ScanIndex(ctx context.Context, kind storage.IndexKind, fn func(key [32]byte, index uint64) error) error {
	var key []byte
	switch kind {
	case storage.LeafIndex:
		var idx uint64
		return s.scan(ctx, kind.String(), "SELECT hash, idx FROM leaves ORDER BY idx, hash", []any{&key, &idx}, func() error {
			if len(key) != 32 {
				return fmt.Errorf("storage: %v row of entry %d has a %d-byte key", kind, idx, len(key))
			}
			return fn([32]byte(key), idx)
		})
	case storage.CredentialIndex, storage.SubjectIndex:
	default:
		return fmt.Errorf("storage: no %v", kind)
	}
	query := "SELECT issuer, id, entries FROM credentials"
	if kind == storage.SubjectIndex {
		query = "SELECT issuer, label, entries FROM subjects"
	}
	var issuer string
	var list []byte
	var rows []indexRow
	err := s.scan(ctx, kind.String(), query, []any{&issuer, &key, &list}, func() error {
		if len(key) != 32 {
			return fmt.Errorf("storage: %v: a record of %q has a %d-byte key", kind, issuer, len(key))
		}
		idx, err := parseIndices(list)
		if err != nil {
			return fmt.Errorf("storage: %v: record %x of %q: %w", kind, key, issuer, err)
		}
		for _, i := range idx {
			rows = append(rows, indexRow{[32]byte(key), i})
		}
		return nil
	})
	if err != nil {
		return err
	}
	sortIndexRows(rows)
	for _, r := range rows {
		if err := fn(r.key, r.idx); err != nil {
			return err
		}
	}
	return nil
}

// ScanState implements storage.Storage.
func (s *Storage) ScanState(ctx context.Context, v storage.StateVisitor) error {
	if v.Issuer != nil {
		var i state.Issuer
		var pub, vrf []byte
		err := s.scan(ctx, "issuers", "SELECT name, key_id, public_key, vrf_key FROM issuers",
			[]any{&i.Name, &i.KeyID, &pub, &vrf}, func() error {
				if !hash32(&i.PublicKey, pub) || !hash32(&i.VRFKey, vrf) {
					return fmt.Errorf("storage: issuer %q has a key that is not 32 bytes", i.Name)
				}
				c := i
				return v.Issuer(&c)
			})
		if err != nil {
			return err
		}
	}
	if v.Credential != nil {
		var c state.Credential
		var id, subject []byte
		err := s.scan(ctx, "credentials", `SELECT issuer, id, subject, version, not_after, status, reason, issue_index, last_index
			FROM credentials`, []any{&c.Issuer, &id, &subject, &c.Version, &c.NotAfter, &c.Status, &c.Reason, &c.IssueIndex, &c.LastIndex},
			func() error {
				if !hash32((*[32]byte)(&c.ID), id) || !hash32((*[32]byte)(&c.Subject), subject) {
					return fmt.Errorf("storage: credential %x of %q has an ID or subject that is not 32 bytes", id, c.Issuer)
				}
				cc := c
				return v.Credential(&cc)
			})
		if err != nil {
			return err
		}
	}
	if v.Subject != nil {
		var su state.Subject
		var label, live, digest []byte
		err := s.scan(ctx, "subjects", "SELECT issuer, label, version, live, events, digest FROM subjects",
			[]any{&su.Issuer, &label, &su.Version, &live, &su.Events, &digest}, func() error {
				if !hash32((*[32]byte)(&su.Label), label) || !hash32((*[32]byte)(&su.Live), live) || !hash32((*[32]byte)(&su.Digest), digest) {
					return fmt.Errorf("storage: subject %x of %q has a hash that is not 32 bytes", label, su.Issuer)
				}
				c := su
				return v.Subject(&c)
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// ScanMapNodes implements storage.Storage: the nodes of map_nodes in
// NodeID order, then, one position at depth lowTier after another, those
// below it, computed from its leaves (mapleaves.go). A stored node that
// does not parse at its position is an error.
func (s *Storage) ScanMapNodes(ctx context.Context, fn func(vmap.NodeID, vmap.Node) error) error {
	var depth int
	var prefix, node []byte
	err := s.scan(ctx, "map nodes", "SELECT depth, prefix, node FROM map_nodes ORDER BY depth, prefix",
		[]any{&depth, &prefix, &node}, func() error {
			id, err := vmap.ParseNodeID(depth, prefix)
			if err != nil {
				return fmt.Errorf("storage: map node at depth %d, prefix %x: %w", depth, prefix, err)
			}
			n, err := vmap.ParseNode(id, node)
			if err != nil {
				return fmt.Errorf("storage: map node %s: %w", id, err)
			}
			return fn(id, n)
		})
	if err != nil {
		return err
	}
	var root vmap.NodeID
	var leaves []vmap.Node
	walk := func() error {
		if len(leaves) == 0 {
			return nil
		}
		sub, err := vmap.NewSubtrees([]vmap.NodeID{root}, [][]vmap.Node{leaves})
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		leaves = nil
		return sub.Walk(fn)
	}
	var key, hash, value []byte
	err = s.scan(ctx, "map leaves", "SELECT key, hash, value FROM map_leaves ORDER BY key",
		[]any{&key, &hash, &value}, func() error {
			n, err := parseLeaf(key, hash, value)
			if err != nil {
				return err
			}
			if r := vmap.PathID(n.Key, lowTier); r != root || len(leaves) == 0 {
				if err := walk(); err != nil {
					return err
				}
				root = r
			}
			leaves = append(leaves, n)
			return nil
		})
	if err != nil {
		return err
	}
	return walk()
}

// hash32 copies b into dst if it is 32 bytes long, and reports whether it
// was.
func hash32(dst *[32]byte, b []byte) bool {
	if len(b) != 32 {
		return false
	}
	*dst = [32]byte(b)
	return true
}

// scan runs query and, for each row, scans it into dest and calls fn.
// Errors from fn are returned as they are.
func (s *Storage) scan(ctx context.Context, what, query string, dest []any, fn func() error) error {
	rows, err := s.r.db.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("couldn't read %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("couldn't read %s: %w", what, err)
		}
		if err := fn(); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("couldn't read %s: %w", what, err)
	}
	return nil
}
