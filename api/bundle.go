package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/credlog/credlog/log/bundle"
	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
)

// ErrNotReady is returned by Client.Bundle when the log has the
// credential's issue event but no published checkpoint or map-root entry
// covers it yet; asking again later succeeds.
var ErrNotReady = errors.New("the log does not cover the issue event yet")

// Bundle fetches, from the log, the credential bundle (docs/BUNDLE.md) of
// the certificate der issued by issuer: the issue event naming the
// certificate's hash with its tlog-proof (GET /lookup/credential), and
// the status proof against the latest map-root entry (GET
// /map/credential). It checks nothing cryptographically: bundle.Verify
// does.
func (c *Client) Bundle(ctx context.Context, der []byte, issuer string) (*bundle.Bundle, error) {
	id := credential.ID(der)
	lr, err := c.LookupCredential(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("couldn't look up credential %x: %w", id, err)
	}
	var issue *LookupEvent
	for i, le := range lr.Events {
		ev, err := entry.Parse(le.Entry)
		if err != nil {
			return nil, fmt.Errorf("log answered a malformed entry at index %d: %w", le.Index, err)
		}
		if ev.Type == entry.TypeIssue && ev.Issuer == issuer && ev.Credential == id {
			issue = &lr.Events[i]
			break
		}
	}
	if issue == nil {
		return nil, fmt.Errorf("the log has no issue event by %q for credential %x", issuer, id)
	}
	if issue.Proof == "" {
		return nil, fmt.Errorf("%w: no checkpoint covers index %d", ErrNotReady, issue.Index)
	}
	mr, err := c.MapCredential(ctx, issuer, id)
	if IsStatus(err, 404) {
		return nil, fmt.Errorf("%w: the log has no map-root entry", ErrNotReady)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't get the status proof: %w", err)
	}
	if mr.MapRootIndex <= issue.Index || len(mr.Value) == 0 {
		return nil, fmt.Errorf("%w: the latest map-root entry (%d) is not after the issue event (%d)", ErrNotReady, mr.MapRootIndex, issue.Index)
	}
	if mr.MapRootProof == "" {
		return nil, fmt.Errorf("%w: no checkpoint covers map-root entry %d", ErrNotReady, mr.MapRootIndex)
	}
	b := &bundle.Bundle{
		Certificate:  der,
		IssueEntry:   issue.Entry,
		IssueProof:   []byte(issue.Proof),
		MapRootEntry: mr.MapRootEntry,
		MapRootProof: []byte(mr.MapRootProof),
		MapProof:     mr.Proof,
		MapValue:     mr.Value,
	}
	// Round-trip through the parser, so that a bundle this returns is
	// one that Parse accepts.
	return bundle.Parse(b.Marshal())
}
