package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/gorilla/mux"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/vmap"
)

// MapProofResponse is the answer of the map endpoints: a proof from the
// verifiable map (docs/MAP.md) against the root of the latest map-root
// entry, with that entry and its inclusion proof, so that a client can
// check everything offline against the log's key (and witnesses).
type MapProofResponse struct {
	// MapRootIndex is the index of the map-root entry; the map covers
	// the entries before it.
	MapRootIndex uint64 `json:"map_root_index"`
	// MapRootEntry is that entry (its MapRoot field is the root).
	MapRootEntry []byte `json:"map_root_entry"`
	// MapRootProof is a tlog-proof@v1 of the entry at the latest published
	// checkpoint; empty if no checkpoint covers it yet.
	MapRootProof string `json:"map_root_proof,omitempty"`
	// Proof is the map proof (membership, or absence when Value is empty).
	Proof []byte `json:"proof"`
	// Value is the map value of the key, absent for an absent key.
	Value []byte `json:"value,omitempty"`
	// Indices, for a subject, are the indices of the issuer's events naming
	// it before the map-root entry: what vmap.VerifySubjectHistory checks.
	Indices []uint64 `json:"indices,omitempty"`
}

// mapAttempts bounds the retries when a new map-root commits while a
// proof is being built.
const mapAttempts = 3

func (s *Server) serveMap(subject bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var h entry.Hash
		hex.Decode(h[:], []byte(mux.Vars(r)["hash"])) // the route admits only 64 hex digits
		issuer := r.URL.Query().Get("issuer")
		if err := entry.CheckName(issuer); err != nil {
			s.writeError(w, r, fmt.Errorf("%w: issuer: %v", errBadRequest, err))
			return
		}
		key := vmap.CredentialKey(issuer, h)
		if subject {
			key = vmap.SubjectKey(issuer, h)
		}
		var resp *MapProofResponse
		var err error
		for range mapAttempts {
			if resp, err = s.mapProof(r.Context(), key); !errors.Is(err, errMapMoved) {
				break
			}
		}
		if err == nil && subject {
			resp.Indices, err = s.subjectIndices(r.Context(), issuer, h, resp.MapRootIndex)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

// mapReadDepth is how many levels of the map mapReadCache keeps: 2^16 - 1
// positions, some 2.2 MiB. A proof in a map of n keys reads some
// 2·(log2(n) + 4) positions, the path and its siblings: at 20 million
// keys, 56, of which the cache answers 32 once warm.
const mapReadDepth = 16

// mapReadCache keeps the top levels of the stored map in memory for map
// proofs, for as long as the map-root entry they were read under is the
// latest: the map changes only with a map-root entry, which changes the
// nodes near the root. Every proof reads the latest map-root entry
// first; one of a later entry empties the cache. A proof built from
// nodes of two maps (read across a map-root entry's commit, or in a
// request that began before it) does not verify against the root it is
// served with, and is read again (errMapMoved).
type mapReadCache struct {
	cache *vmap.Cache
	mu    sync.Mutex
	index uint64 // the map-root entry the cache follows
	known bool   // index is set
}

func newMapReadCache(r vmap.NodeReader) *mapReadCache {
	return &mapReadCache{cache: vmap.NewCache(r, mapReadDepth)}
}

// follow empties the cache if the latest map-root entry, at index, is
// later than the one the cache follows.
func (m *mapReadCache) follow(index uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known && index <= m.index {
		return
	}
	m.cache.Reset()
	m.index, m.known = index, true
}

// errMapMoved: a map-root committed while the proof was read.
var errMapMoved = errors.New("map moved while proving")

// latestMapRoot returns the latest map-root entry's index and root: from
// memory while the log in this process is the one that appends, else
// from storage.
func (s *Server) latestMapRoot(ctx context.Context) (*storage.MapRoot, error) {
	if s.log != nil {
		if mr, ok := s.log.MapRoot(); ok {
			return &mr, nil
		}
	}
	return s.store.MapRoot(ctx)
}

func (s *Server) mapProof(ctx context.Context, key vmap.Key) (*MapProofResponse, error) {
	mr, err := s.latestMapRoot(ctx)
	if err != nil {
		return nil, fmt.Errorf("no map-root entry yet: %w", err)
	}
	s.mapReads.follow(mr.Index)
	proof, value, err := s.mapTree.Prove(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("couldn't prove: %w", err)
	}
	enc, err := proof.Marshal()
	if err != nil {
		return nil, fmt.Errorf("couldn't encode proof: %w", err)
	}
	// Check the proof against the root it is served with: the stored map
	// may have moved to a newer map-root between the two reads.
	if value != nil {
		err = vmap.VerifyMembership(mr.Root, key, value, enc)
	} else {
		err = vmap.VerifyAbsence(mr.Root, key, enc)
	}
	if err != nil {
		return nil, errMapMoved
	}
	ev, err := s.lookup(ctx, []uint64{mr.Index})
	if err != nil {
		return nil, err
	}
	return &MapProofResponse{
		MapRootIndex: mr.Index, MapRootEntry: ev.Events[0].Entry, MapRootProof: ev.Events[0].Proof,
		Proof: enc, Value: value,
	}, nil
}

// subjectIndices returns the indices below end of issuer's events naming
// label.
func (s *Server) subjectIndices(ctx context.Context, issuer string, label entry.Hash, end uint64) ([]uint64, error) {
	all, err := s.store.BySubject(ctx, label)
	if err != nil {
		return nil, err
	}
	var below []uint64
	for _, i := range all {
		if i < end {
			below = append(below, i)
		}
	}
	if len(below) == 0 {
		return nil, nil
	}
	evs, err := s.lookup(ctx, below)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range evs.Events {
		ev, err := entry.Parse(e.Entry)
		if err != nil {
			return nil, fmt.Errorf("stored entry %d: %w", e.Index, err)
		}
		if ev.Issuer == issuer {
			out = append(out, e.Index)
		}
	}
	return out, nil
}
