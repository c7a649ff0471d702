package witnessclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

const (
	// maxRequestSize keeps add-checkpoint requests within what the public
	// witnesses accept.
	maxRequestSize = 10 << 10
	// maxResponseSize bounds what is read of a witness's answer.
	maxResponseSize = 64 << 10
	// sizeContentType is the media type of a 409's size body.
	sizeContentType = "text/x.tlog.size"
)

// witness is the client's view of one witness.
type witness struct {
	name string        // policy name
	url  string        // the add-checkpoint endpoint
	v    note.Verifier // its cosignature key

	// mu is held for a whole exchange with the witness, so that the
	// remembered size always matches the last answer.
	mu        sync.Mutex
	size      uint64    // the size it last cosigned, as far as we know
	holdUntil time.Time // no request before, after a 429
}

// add gets the witness's cosignature on signed, a checkpoint of the given
// size. It corrects the remembered size from a 409 and then retries once.
func (c *Client) add(ctx context.Context, w *witness, size uint64, signed []byte, proofs *proofCache) ([]byte, *WitnessError) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fail := func(k Kind, err error) *WitnessError { return &WitnessError{Witness: w.name, Kind: k, Err: err} }
	if wait := time.Until(w.holdUntil); wait > 0 {
		return nil, fail(KindRateLimited, fmt.Errorf("rate limited, not called for another %s", wait.Round(time.Second)))
	}
	for retried := false; ; retried = true {
		if w.size > size {
			return nil, fail(KindAhead, fmt.Errorf("it cosigned size %d, larger than the checkpoint's %d", w.size, size))
		}
		proof, err := proofs.get(ctx, w.size)
		if err != nil {
			return nil, fail(KindProof, err)
		}
		body := requestBody(w.size, proof, signed)
		if len(body) > maxRequestSize {
			return nil, fail(KindProof, fmt.Errorf("request of %d bytes is larger than %d", len(body), maxRequestSize))
		}
		resp, err := c.post(ctx, w, body)
		if err != nil {
			return nil, fail(transportKind(ctx, err), err)
		}
		switch resp.code {
		case http.StatusOK:
			cosig, err := checkCosignature(w.v, signed, resp.body)
			if err != nil {
				return nil, fail(KindBadResponse, err)
			}
			c.setSize(w, size)
			return cosig, nil
		case http.StatusConflict:
			n, err := parseSizeBody(resp)
			if err != nil {
				return nil, fail(KindConflict, err)
			}
			old := w.size
			c.setSize(w, n)
			if retried || n > size {
				return nil, fail(conflictKind(n, size), fmt.Errorf("sent old size %d, it cosigned %d", old, n))
			}
			c.log.Info("witness corrected the log's view of its size", "witness", w.name, "was", old, "size", n)
		case http.StatusTooManyRequests:
			wait := retryAfter(resp.header.Get("Retry-After"))
			w.holdUntil = time.Now().Add(wait)
			return nil, fail(KindRateLimited, fmt.Errorf("429, retry after %s", wait))
		default:
			return nil, fail(statusKind(resp.code), fmt.Errorf("%d %s: %q", resp.code, http.StatusText(resp.code), trim(resp.body)))
		}
	}
}

func conflictKind(n, size uint64) Kind {
	if n > size {
		return KindAhead
	}
	return KindConflict
}

func (c *Client) setSize(w *witness, n uint64) {
	w.size = n
	c.m.size.WithLabelValues(w.name).Set(float64(n))
}

// requestBody is a c2sp.org/tlog-witness add-checkpoint request.
func requestBody(old uint64, proof [][]byte, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(signed)
	return b.Bytes()
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (c *Client) post(ctx context.Context, w *witness, body []byte) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("couldn't read the answer: %w", err)
	}
	c.m.seconds.WithLabelValues(w.name).Observe(time.Since(start).Seconds())
	c.m.requests.WithLabelValues(w.name, strconv.Itoa(resp.StatusCode)).Inc()
	if len(b) > maxResponseSize {
		return nil, fmt.Errorf("answer is larger than %d bytes", maxResponseSize)
	}
	return &response{code: resp.StatusCode, header: resp.Header, body: b}, nil
}

// checkCosignature checks a 200 answer: one or more note signature lines,
// among them a valid, timestamped cosignature by the witness's key on the
// checkpoint. It returns that cosignature's line; lines from other keys
// are ignored, as c2sp.org/tlog-witness says.
func checkCosignature(v note.Verifier, signed, body []byte) ([]byte, error) {
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return nil, fmt.Errorf("answer %q is not newline-terminated signature lines", trim(body))
	}
	for _, l := range bytes.SplitAfter(body[:len(body)-1], []byte("\n")) {
		if !bytes.HasPrefix(l, []byte("— ")) {
			return nil, fmt.Errorf("answer line %q is not a note signature line", trim(l))
		}
	}
	msg := append(bytes.Clone(signed), body...)
	n, err := note.Open(msg, note.VerifierList(v))
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unverified):
		return nil, fmt.Errorf("no cosignature by its key %s+%08x", v.Name(), v.KeyHash())
	case err != nil:
		return nil, fmt.Errorf("invalid cosignature: %w", err)
	}
	sig := n.Sigs[0]
	if t, err := fnote.CoSigV1Timestamp(sig); err != nil || t.Unix() == 0 {
		return nil, errors.New("cosignature has no timestamp")
	}
	return fmt.Appendf(nil, "— %s %s\n", sig.Name, sig.Base64), nil
}

// parseSizeBody parses a 409 answer: Content-Type text/x.tlog.size and
// the witness's size as a canonical decimal and a newline.
func parseSizeBody(r *response) (uint64, error) {
	mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != sizeContentType {
		return 0, fmt.Errorf("409 with Content-Type %q, not %s: %q", r.header.Get("Content-Type"), sizeContentType, trim(r.body))
	}
	s, ok := bytes.CutSuffix(r.body, []byte("\n"))
	n, err := strconv.ParseUint(string(s), 10, 64)
	if !ok || err != nil || strconv.FormatUint(n, 10) != string(s) {
		return 0, fmt.Errorf("409 size body %q is not a decimal and a newline", trim(r.body))
	}
	return n, nil
}

// retryAfter parses a Retry-After header in seconds; 1 minute otherwise.
func retryAfter(h string) time.Duration {
	if n, err := strconv.ParseUint(h, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	return time.Minute
}

func transportKind(ctx context.Context, err error) Kind {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return KindTimeout
	case ctx.Err() != nil:
		return KindCancelled
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	}
	return KindNetwork
}

func statusKind(code int) Kind {
	switch {
	case code == http.StatusBadRequest:
		return KindBadRequest
	case code == http.StatusForbidden:
		return KindForbidden
	case code == http.StatusNotFound:
		return KindUnknownLog
	case code == http.StatusUnprocessableEntity:
		return KindBadProof
	case code >= 500 && code < 600:
		return KindServerError
	}
	return KindStatus
}

// trim shortens a witness's answer for error messages.
func trim(b []byte) []byte {
	const n = 200
	if len(b) > n {
		return append(b[:n:n], "…"...)
	}
	return bytes.TrimSpace(b)
}
