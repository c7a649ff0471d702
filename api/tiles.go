package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
)

const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheNone      = "no-store"
)

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// latestCheckpoint returns the latest published checkpoint: from memory
// while the log in this process is the one that publishes (every client,
// witness and proof asks for it), else from storage.
func (s *Server) latestCheckpoint(ctx context.Context) (uint64, []byte, error) {
	if s.log != nil {
		if size, cp, ok := s.log.LatestCheckpoint(); ok {
			return size, cp, nil
		}
	}
	return s.store.LatestCheckpoint(ctx)
}

func (s *Server) serveCheckpoint(w http.ResponseWriter, r *http.Request) {
	_, cp, err := s.latestCheckpoint(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", cacheNone)
	w.Write(cp)
}

func (s *Server) serveCheckpointBySize(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.ParseUint(mux.Vars(r)["size"], 10, 64)
	if err != nil {
		http.Error(w, "bad size", http.StatusBadRequest)
		return
	}
	cp, err := s.store.Checkpoint(r.Context(), size)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", cacheImmutable)
	w.Write(cp)
}

// parseTilePath parses "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]"
// and accepts only the canonical form.
func parseTilePath(path string) (entries bool, level, index uint64, width uint8, ok bool) {
	rest, found := strings.CutPrefix(path, "/tile/")
	if !found {
		return
	}
	first, idx, found := strings.Cut(rest, "/")
	if !found {
		return
	}
	var err error
	if first == "entries" {
		entries = true
		index, width, err = layout.ParseTileIndexPartial(idx)
		if err != nil || "/"+layout.EntriesPath(index, width) != path {
			return false, 0, 0, 0, false
		}
		return entries, 0, index, width, true
	}
	level, index, width, err = layout.ParseTileLevelIndexPartial(first, idx)
	if err != nil || level > 63 || "/"+layout.TilePath(level, index, width) != path {
		return false, 0, 0, 0, false
	}
	return false, level, index, width, true
}

func (s *Server) serveTile(w http.ResponseWriter, r *http.Request) {
	entries, level, index, width, ok := parseTilePath(r.URL.Path)
	if !ok {
		http.Error(w, "malformed tile path", http.StatusBadRequest)
		return
	}
	var data []byte
	var err error
	if entries {
		data, err = s.readBundle(r.Context(), index, width)
	} else {
		data, err = s.tiles.readWidth(r.Context(), s.store, level, index, width)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", cacheImmutable)
	// Tiles (8 KiB) and bundles are larger than the server's write
	// buffer: without a length, they would be sent chunked, in more
	// writes, for every client to reassemble.
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

// tileWidth returns the first w hashes of a stored tile (all 256 when w is
// 0), or ErrNotFound when the stored tile is not that wide yet.
func tileWidth(t []byte, w uint8) ([]byte, error) {
	n := int(w)
	if n == 0 {
		n = tiles.Width
	}
	if len(t) < n*32 {
		return nil, storage.ErrNotFound
	}
	return t[:n*32], nil
}

// maxCachedBundle bounds the size of an entry bundle kept in the bundle
// cache.
const maxCachedBundle = 64 << 10

// readBundle returns the first width entries of an entry bundle (all 256
// for width 0). Like a tile's, a bundle's first W entries never change
// once it has W, so they are cached (unless unusually large).
func (s *Server) readBundle(ctx context.Context, index uint64, width uint8) ([]byte, error) {
	key := tileKey{index: index, width: width, bundle: true}
	if data, ok := s.bundles.get(key); ok {
		return data, nil
	}
	data, err := s.store.ReadBundle(ctx, index)
	if err != nil {
		return nil, err
	}
	if data, err = bundleWidth(data, width); err != nil {
		return nil, err
	}
	if len(data) <= maxCachedBundle {
		s.bundles.put(key, data)
	}
	return data, nil
}

func bundleWidth(b []byte, w uint8) ([]byte, error) {
	n := int(w)
	if n == 0 {
		n = tiles.Width
	}
	p, err := tiles.BundlePrefix(b, n)
	if err != nil {
		return nil, errors.Join(storage.ErrNotFound, err)
	}
	return p, nil
}
