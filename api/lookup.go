package api

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/tiles"
)

// MaxLookupEvents bounds the events one lookup returns.
const MaxLookupEvents = 1000

// LookupEvent is one event in a lookup answer.
type LookupEvent struct {
	Index uint64 `json:"index"`
	Entry []byte `json:"entry"` // the entry bytes (base64 in JSON)
	// Proof is a tlog-proof@v1 of the entry at the latest published
	// checkpoint; empty for an entry that no checkpoint covers yet.
	Proof string `json:"proof,omitempty"`
}

// LookupResponse is the answer of the lookup endpoints.
type LookupResponse struct {
	Events []LookupEvent `json:"events"`
	// Size is the size of the checkpoint the proofs are against.
	Size uint64 `json:"size"`
	// Truncated is set when more than MaxLookupEvents events match: the
	// answer holds the first MaxLookupEvents of them.
	Truncated bool `json:"truncated,omitempty"`
}

type lookupKind int

const (
	lookupCredential lookupKind = iota
	lookupSubject
)

func (s *Server) serveLookup(kind lookupKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var h entry.Hash
		hex.Decode(h[:], []byte(mux.Vars(r)["hash"])) // the route admits only 64 hex digits
		var idx []uint64
		var err error
		if kind == lookupCredential {
			idx, err = s.store.ByCredential(r.Context(), h)
		} else {
			idx, err = s.store.BySubject(r.Context(), h)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		truncated := len(idx) > MaxLookupEvents
		if truncated {
			idx = idx[:MaxLookupEvents]
		}
		resp, err := s.lookup(r.Context(), idx)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp.Truncated = truncated
		writeJSON(w, http.StatusOK, resp)
	}
}

// lookupBundle returns the entry bundle of index: a full bundle under
// pr's published tree through the read cache, where the bundles that
// clients fetch are too (a credential that apps check again and again is
// looked up again and again); a bundle that may still grow, or any when
// there is no published tree, from storage.
func (s *Server) lookupBundle(ctx context.Context, index uint64, pr *prover) ([]byte, error) {
	if pr != nil && (index+1)*tiles.Width <= pr.size {
		return s.readBundle(ctx, index, 0)
	}
	return s.store.ReadBundle(ctx, index)
}

func (s *Server) lookup(ctx context.Context, idx []uint64) (*LookupResponse, error) {
	resp := &LookupResponse{Events: []LookupEvent{}}
	var pr *prover
	if len(idx) > 0 {
		var err error
		if pr, err = s.newProver(ctx); err == nil {
			resp.Size = pr.size
		}
	}
	bundles := map[uint64][][]byte{}
	for _, i := range idx {
		es, ok := bundles[i/tiles.Width]
		if !ok {
			b, err := s.lookupBundle(ctx, i/tiles.Width, pr)
			if err != nil {
				return nil, fmt.Errorf("couldn't read entry bundle of %d: %w", i, err)
			}
			if es, err = tiles.BundleEntries(b); err != nil {
				return nil, fmt.Errorf("couldn't read entry bundle of %d: %w", i, err)
			}
			bundles[i/tiles.Width] = es
		}
		if int(i%tiles.Width) >= len(es) {
			return nil, fmt.Errorf("api: entry %d missing from its bundle", i)
		}
		ev := LookupEvent{Index: i, Entry: es[i%tiles.Width]}
		if pr != nil && i < pr.size {
			p, err := pr.proof(ctx, i)
			if err != nil {
				return nil, err
			}
			ev.Proof = string(p.Marshal())
		}
		resp.Events = append(resp.Events, ev)
	}
	return resp, nil
}
