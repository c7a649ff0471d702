package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/transparency-dev/tessera/client"
)

// maxCheckpointSize bounds the checkpoint a pulled log may serve.
const maxCheckpointSize = 16 << 10

// Pull fetches the latest checkpoint of the log with the given origin from
// its c2sp.org/tlog-tiles URL, builds the consistency proof from the
// latest cosigned checkpoint itself, from the log's tiles, and cosigns
// through [Witness.AddCheckpoint] with all its checks. So a log cannot
// dodge a witness by never calling it.
//
// It returns the new cosigned size, or the error of the attempt. A log
// that serves a checkpoint of the same size and another root is caught as
// equivocation, like a pushed one.
func (w *Witness) Pull(ctx context.Context, origin string, base *url.URL, hc *http.Client) (uint64, error) {
	st, err := w.store.Log(ctx, origin)
	if err != nil {
		return 0, err
	}
	f, err := client.NewHTTPFetcher(base, hc)
	if err != nil {
		return 0, fmt.Errorf("bad log URL %q: %w", base, err)
	}
	raw, err := f.ReadCheckpoint(ctx)
	if err != nil {
		return 0, fmt.Errorf("couldn't fetch the checkpoint of %q: %w", origin, err)
	}
	if len(raw) > maxCheckpointSize {
		return 0, fmt.Errorf("%w: checkpoint of %q is %d bytes", ErrMalformed, origin, len(raw))
	}
	text, err := openNote(raw)
	if err != nil {
		return 0, err
	}
	cp, err := parseCheckpoint(text)
	if err != nil {
		return 0, err
	}
	if cp.Origin != origin {
		return 0, fmt.Errorf("%w: %s serves the checkpoint of %q, not %q", ErrMalformed, base, cp.Origin, origin)
	}
	var old uint64
	if st.Latest != nil {
		old = st.Latest.Size
		if cp.Size == old && bytes.Equal(cp.Hash, st.Latest.Root) {
			return old, nil // nothing new
		}
	}
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	if old > 0 && cp.Size > old {
		pb, err := client.NewProofBuilder(ctx, cp.Size, f.ReadTile)
		if err != nil {
			return 0, fmt.Errorf("couldn't read the tiles of %q: %w", origin, err)
		}
		proof, err := pb.ConsistencyProof(ctx, old, cp.Size)
		if err != nil {
			return 0, fmt.Errorf("couldn't build the consistency proof of %q from %d to %d: %w", origin, old, cp.Size, err)
		}
		for _, h := range proof {
			fmt.Fprintf(&body, "%s\n", base64.StdEncoding.EncodeToString(h))
		}
	}
	body.WriteString("\n")
	body.Write(raw)
	if _, err := w.AddCheckpoint(ctx, body.Bytes()); err != nil {
		return 0, err
	}
	return cp.Size, nil
}

// Follow calls [Witness.Pull] every interval until ctx is done, logging
// each failure.
func (w *Witness) Follow(ctx context.Context, origin string, base *url.URL, hc *http.Client, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		size, err := w.Pull(ctx, origin, base, hc)
		if err != nil {
			w.log.WarnContext(ctx, "couldn't pull log", "origin", origin, "url", base.String(), "err", err)
		} else {
			w.log.DebugContext(ctx, "pulled log", "origin", origin, "size", size)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
