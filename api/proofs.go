package api

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
)

// ProofResponse is the answer of the proof endpoints.
type ProofResponse struct {
	Index  uint64   `json:"index,omitempty"`
	Old    uint64   `json:"old,omitempty"`
	Size   uint64   `json:"size"`
	Hashes [][]byte `json:"hashes"`
}

func queryUint(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != v {
		return 0, fmt.Errorf("%w: parameter %s=%q is not a decimal", errBadRequest, name, v)
	}
	return n, nil
}

// publishedSize parses ?size=N and checks that a checkpoint of that size
// was published.
func (s *Server) publishedSize(r *http.Request) (uint64, error) {
	size, err := queryUint(r, "size")
	if err != nil {
		return 0, err
	}
	if s.published.has(size) {
		return size, nil
	}
	if _, err := s.store.Checkpoint(r.Context(), size); err != nil {
		return 0, fmt.Errorf("no checkpoint of size %d was published: %w", size, err)
	}
	s.published.add(size)
	return size, nil
}

// maxPublishedSizes bounds the sizes a sizeSet remembers.
const maxPublishedSizes = 4096

// sizeSet remembers tree sizes known to have a published checkpoint, a
// fact that never changes, so that the proof endpoints need not ask
// storage again for each request. It forgets everything when full.
type sizeSet struct {
	mu    sync.Mutex
	sizes map[uint64]struct{}
}

func (s *sizeSet) has(size uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sizes[size]
	return ok
}

func (s *sizeSet) add(size uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sizes == nil || len(s.sizes) >= maxPublishedSizes {
		s.sizes = make(map[uint64]struct{})
	}
	s.sizes[size] = struct{}{}
}

func (s *Server) serveInclusion(w http.ResponseWriter, r *http.Request) {
	size, err := s.publishedSize(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	index, err := queryUint(r, "index")
	if err == nil && index >= size {
		err = fmt.Errorf("%w: index %d is not below size %d", errBadRequest, index, size)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.proverAt(size, nil).proof(r.Context(), index)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", cacheImmutable)
	writeJSON(w, http.StatusOK, ProofResponse{Index: index, Size: size, Hashes: p.Hashes})
}

func (s *Server) serveConsistency(w http.ResponseWriter, r *http.Request) {
	size, err := s.publishedSize(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	old, err := queryUint(r, "old")
	if err == nil && old > size {
		err = fmt.Errorf("%w: old size %d is above size %d", errBadRequest, old, size)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h, err := s.proverAt(size, nil).consistency(r.Context(), old)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("couldn't build consistency proof: %w", err))
		return
	}
	w.Header().Set("Cache-Control", cacheImmutable)
	writeJSON(w, http.StatusOK, ProofResponse{Old: old, Size: size, Hashes: h})
}
