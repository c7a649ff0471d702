package fsck

import (
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/storage"
)

// checkIndexes checks that each lookup index holds exactly the rows the
// entries imply.
func (c *checker) checkIndexes() error {
	kinds := []storage.IndexKind{storage.LeafIndex, storage.CredentialIndex, storage.SubjectIndex}
	c.progress("indexes", 0, uint64(len(kinds))*c.tree.Size)
	for k, kind := range kinds {
		if err := c.checkIndex(kind); err != nil {
			return err
		}
		c.progress("indexes", uint64(k+1)*c.tree.Size, uint64(len(kinds))*c.tree.Size)
	}
	return nil
}

// indexKey returns the key that entry i has in an index, if it has one.
func (c *checker) indexKey(kind storage.IndexKind, i uint64) ([32]byte, bool) {
	var zero entry.Hash
	e := &c.entries[i]
	switch kind {
	case storage.LeafIndex:
		return e.leaf, true
	case storage.CredentialIndex:
		return e.credential, e.credential != zero
	default:
		return e.subject, e.subject != zero
	}
}

// checkIndex merges the index's rows, which come by entry index, with the
// entries: a row that no entry implies is stray, an entry whose row is
// not met before a later index is missing from the index.
func (c *checker) checkIndex(kind storage.IndexKind) error {
	size := c.tree.Size
	next := uint64(0) // entries below next are checked
	missing := func(upTo uint64) error {
		for ; next < upTo; next++ {
			if _, ok := c.indexKey(kind, next); ok {
				return inconsistent("entry %d: not in the %v", next, kind)
			}
		}
		return nil
	}
	err := c.s.ScanIndex(c.ctx, kind, func(key [32]byte, idx uint64) error {
		if idx >= size {
			return inconsistent("%v: stray row %x for entry %d, beyond the tree of %d entries", kind, key, idx, size)
		}
		if err := missing(idx); err != nil {
			return err
		}
		// Below next, the entry's row was already met.
		if want, ok := c.indexKey(kind, idx); !ok || want != key || idx < next {
			return inconsistent("%v: stray row %x for entry %d", kind, key, idx)
		}
		next = idx + 1
		c.rep.IndexRows++
		return nil
	})
	if err != nil {
		return err
	}
	return missing(size)
}
