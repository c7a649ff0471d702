package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/credlog/credlog/log/entry"
)

// Client talks to a credlog log over HTTP.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// NewClient returns a client for the log at baseURL (e.g.
// "http://127.0.0.1:8080/"). hc may be nil.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse log URL: %w", err)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, hc: hc}, nil
}

// HTTPError is a non-2xx answer from the log.
type HTTPError struct {
	Status int
	Body   ErrorBody
}

func (e *HTTPError) Error() string {
	if e.Body.Rule != "" {
		return fmt.Sprintf("log answered %d (rule %s): %s", e.Status, e.Body.Rule, e.Body.Error)
	}
	return fmt.Sprintf("log answered %d: %s", e.Status, e.Body.Error)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	u := c.base.JoinPath(strings.TrimPrefix(path, "/"))
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u = c.base.JoinPath(strings.TrimPrefix(path[:i], "/"))
		u.RawQuery = path[i+1:]
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("couldn't make request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("couldn't reach the log: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("couldn't read the log's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		he := &HTTPError{Status: resp.StatusCode}
		if json.Unmarshal(data, &he.Body) != nil || he.Body.Error == "" {
			he.Body.Error = strings.TrimSpace(string(data))
		}
		return he
	}
	if b, ok := out.(*[]byte); ok {
		*b = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("couldn't decode the log's answer: %w", err)
	}
	return nil
}

func waitQuery(wait bool) string {
	if wait {
		return "?wait=checkpoint"
	}
	return ""
}

// Submit submits one event. With wait, it waits for a published
// checkpoint and the result carries a tlog-proof.
func (c *Client) Submit(ctx context.Context, event []byte, wait bool) (*SubmitResult, error) {
	var r SubmitResult
	if err := c.do(ctx, http.MethodPost, "events"+waitQuery(wait), event, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SubmitBatch submits events in one request; each gets its own result.
func (c *Client) SubmitBatch(ctx context.Context, events [][]byte, wait bool) ([]SubmitResult, error) {
	var body []byte
	for _, e := range events {
		body = AppendBatch(body, e)
	}
	var r BatchResult
	if err := c.do(ctx, http.MethodPost, "events/batch"+waitQuery(wait), body, &r); err != nil {
		return nil, err
	}
	if len(r.Results) != len(events) {
		return nil, fmt.Errorf("log answered %d results for %d events", len(r.Results), len(events))
	}
	return r.Results, nil
}

// Checkpoint returns the latest published checkpoint.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	return b, c.do(ctx, http.MethodGet, "checkpoint", nil, &b)
}

// CheckpointAt returns the published checkpoint of a size.
func (c *Client) CheckpointAt(ctx context.Context, size uint64) ([]byte, error) {
	var b []byte
	return b, c.do(ctx, http.MethodGet, fmt.Sprintf("checkpoints/%d", size), nil, &b)
}

// LookupCredential returns the events naming a credential ID.
func (c *Client) LookupCredential(ctx context.Context, id entry.Hash) (*LookupResponse, error) {
	var r LookupResponse
	return &r, c.do(ctx, http.MethodGet, "lookup/credential/"+hex.EncodeToString(id[:]), nil, &r)
}

// LookupSubject returns the events naming a subject label.
func (c *Client) LookupSubject(ctx context.Context, label entry.Hash) (*LookupResponse, error) {
	var r LookupResponse
	return &r, c.do(ctx, http.MethodGet, "lookup/subject/"+hex.EncodeToString(label[:]), nil, &r)
}

// InclusionProof returns a server-built inclusion proof.
func (c *Client) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	var r ProofResponse
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("proof/inclusion?index=%d&size=%d", index, size), nil, &r); err != nil {
		return nil, err
	}
	return r.Hashes, nil
}

// ConsistencyProof returns a server-built consistency proof.
func (c *Client) ConsistencyProof(ctx context.Context, old, size uint64) ([][]byte, error) {
	var r ProofResponse
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("proof/consistency?old=%d&size=%d", old, size), nil, &r); err != nil {
		return nil, err
	}
	return r.Hashes, nil
}

// IsStatus reports whether err is an HTTPError with the given status.
func IsStatus(err error, status int) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == status
}

// MapCredential returns the map proof of a credential's status against
// the latest map-root entry (GET /map/credential/<id>?issuer=NAME).
func (c *Client) MapCredential(ctx context.Context, issuer string, id entry.Hash) (*MapProofResponse, error) {
	var r MapProofResponse
	q := url.Values{"issuer": {issuer}}
	return &r, c.do(ctx, http.MethodGet, "map/credential/"+hex.EncodeToString(id[:])+"?"+q.Encode(), nil, &r)
}

// MapSubject returns the map proof of a subject's history against the
// latest map-root entry (GET /map/subject/<label>?issuer=NAME), with the
// indices of the events naming it.
func (c *Client) MapSubject(ctx context.Context, issuer string, label entry.Hash) (*MapProofResponse, error) {
	var r MapProofResponse
	q := url.Values{"issuer": {issuer}}
	return &r, c.do(ctx, http.MethodGet, "map/subject/"+hex.EncodeToString(label[:])+"?"+q.Encode(), nil, &r)
}
