package main

import (
	"encoding/binary"
	"errors"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// lsmStore holds the pattern in an LSM tree: each table a key prefix,
// bloom filters of 10 bits per key at every level (a point read of a
// key that is absent, the usual case here, then reads no data block),
// memtables of 32 MiB, and every timed commit synced to the tree's
// write-ahead log.
type lsmStore struct{ db *pebble.DB }

var countKey = []byte{'n'}

func openLSM(dir string, cacheMiB int64) (*lsmStore, error) {
	c := pebble.NewCache(cacheMiB << 20)
	defer c.Unref()
	o := &pebble.Options{Cache: c, MemTableSize: 32 << 20}
	o.EnsureDefaults()
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, o)
	if err != nil {
		return nil, err
	}
	return &lsmStore{db}, nil
}

func (s *lsmStore) has(table byte, key []byte) (bool, error) {
	_, c, err := s.db.Get(append([]byte{table}, key...))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, c.Close()
}

func (s *lsmStore) commit(rows []row, bundles map[uint64][]byte, n uint64, sync bool) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, r := range rows {
		if err := b.Set(append([]byte{r.table}, r.key...), r.value, nil); err != nil {
			return err
		}
	}
	for i, v := range bundles {
		if err := b.Set(binary.BigEndian.AppendUint64([]byte{'b'}, i), v, nil); err != nil {
			return err
		}
	}
	if err := b.Set(countKey, binary.BigEndian.AppendUint64(nil, n), nil); err != nil {
		return err
	}
	o := pebble.NoSync
	if sync {
		o = pebble.Sync
	}
	return b.Commit(o)
}

func (s *lsmStore) events() (uint64, error) {
	v, c, err := s.db.Get(countKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return binary.BigEndian.Uint64(v), nil
}

func (s *lsmStore) close() error { return s.db.Close() }
