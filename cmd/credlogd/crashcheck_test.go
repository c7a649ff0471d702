package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	tapi "github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"

	"github.com/credlog/credlog/log/fsck"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/sqlite"
)

// verify checks the restarted log over HTTP: a published checkpoint comes
// to cover every acknowledged event, each is in its entry bundle at its
// acknowledged index, every checkpoint seen is still served under its
// size, and each is consistent with the next by a proof built from the
// log's tiles. It returns the number of events acknowledged and the size
// of the checkpoint it checked against.
func (h *harness) verify() (int, uint64) {
	h.t.Helper()
	h.mu.Lock()
	acks := maps.Clone(h.acks)
	h.mu.Unlock()
	var need uint64
	for idx := range acks {
		need = max(need, idx+1)
	}
	// The publisher catches up with the committed tree soon after a
	// restart; an acknowledged event that no checkpoint ever covers was
	// lost.
	size := h.waitCheckpoint(need, 30*time.Second)
	ctx := context.Background()
	u, err := url.Parse(h.baseURL())
	if err != nil {
		h.t.Fatal(err)
	}
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	bundles := map[uint64]tapi.EntryBundle{}
	for _, idx := range slices.Sorted(maps.Keys(acks)) {
		b, ok := bundles[idx/256]
		if !ok {
			if b, err = client.GetEntryBundle(ctx, f.ReadEntryBundle, idx/256, size); err != nil {
				h.t.Fatalf("couldn't read the entry bundle of index %d: %v", idx, err)
			}
			bundles[idx/256] = b
		}
		if i := idx % 256; i >= uint64(len(b.Entries)) || !bytes.Equal(b.Entries[i], acks[idx]) {
			h.errorf("the event acknowledged at index %d is not there after a restart", idx)
		}
	}
	h.checkConsistency(ctx, f, size)
	return len(acks), size
}

func (h *harness) baseURL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.url
}

// checkConsistency checks that each checkpoint seen since the last check
// is still served under its size, and that each checkpoint seen is
// consistent with the next one seen, by proofs built from the tiles of
// the tree of the given size. Pairs proved consistent before are not
// proved again: two roots that are consistent stay so. The final offline
// check compares every checkpoint seen with the stored one.
func (h *harness) checkConsistency(ctx context.Context, f *client.HTTPFetcher, size uint64) {
	h.t.Helper()
	h.mu.Lock()
	cps, roots := maps.Clone(h.cps), maps.Clone(h.roots)
	h.mu.Unlock()
	pb, err := client.NewProofBuilder(ctx, size, f.ReadTile)
	if err != nil {
		h.t.Fatal(err)
	}
	sizes := slices.Sorted(maps.Keys(cps))
	for i, s := range sizes {
		if s > size {
			break
		}
		if !h.served[s] {
			served, err := h.current().CheckpointAt(ctx, s)
			if err != nil || !bytes.Equal(served, cps[s]) {
				h.errorf("checkpoint %d: GET /checkpoints/%d = %q, %v; want what was published", s, s, served, err)
			}
			h.served[s] = true
		}
		if i == 0 || h.consistent[[2]uint64{sizes[i-1], s}] {
			continue
		}
		prev := sizes[i-1]
		h.consistent[[2]uint64{prev, s}] = true
		p, err := pb.ConsistencyProof(ctx, prev, s)
		if err != nil {
			h.t.Fatalf("couldn't build a consistency proof from %d to %d: %v", prev, s, err)
		}
		r1, r2 := roots[prev], roots[s]
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, prev, s, p, r1[:], r2[:]); err != nil {
			h.errorf("checkpoint %d is not consistent with checkpoint %d: %v", s, prev, err)
		}
	}
}

// fsck checks the data directory offline, as credlog fsck does, and that
// every acknowledged event and every checkpoint seen is stored.
func (h *harness) fsck() {
	h.t.Helper()
	ctx := context.Background()
	s, err := sqlite.OpenReadOnly(ctx, filepath.Join(h.dir, "log.db"))
	if err != nil {
		h.t.Fatal(err)
	}
	defer s.Close()
	h.checkStored(s)
}

// checkStored runs fsck on s, and checks that every acknowledged event
// and every checkpoint seen is stored in s.
func (h *harness) checkStored(s storage.Storage) {
	h.t.Helper()
	ctx := context.Background()
	rep, err := fsck.Check(ctx, s, h.key, fsck.Options{})
	if err != nil {
		h.t.Fatalf("fsck: %v", err)
	}
	h.t.Logf("fsck: %+v", *rep)
	h.mu.Lock()
	defer h.mu.Unlock()
	for idx, ev := range h.acks {
		b, err := s.ReadBundle(ctx, idx/256)
		var entries tapi.EntryBundle
		if err == nil {
			err = entries.UnmarshalText(b)
		}
		if err != nil || idx%256 >= uint64(len(entries.Entries)) || !bytes.Equal(entries.Entries[idx%256], ev) {
			h.errorf("the event acknowledged at index %d is not stored there (%v)", idx, err)
		}
	}
	for size, cp := range h.cps {
		if stored, err := s.Checkpoint(ctx, size); err != nil || !bytes.Equal(stored, cp) {
			h.errorf("checkpoint %d was published but is not stored (%v)", size, err)
		}
	}
}

// dirHashes returns a digest of every file in dir, with its name.
func dirHashes(t *testing.T, dir string) []byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = fmt.Appendf(out, "%s %x\n", e.Name(), sha256.Sum256(b))
	}
	return out
}
