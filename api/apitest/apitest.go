// Package apitest runs a real credlog log for tests of other packages:
// SQLite in a temporary directory, the sequencer, and the HTTP API on a
// loopback port, all stopped when the test ends.
package apitest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/witnessclient"
	"github.com/credlog/credlog/log/witnessclient/policy"
)

// Log is a running log.
type Log struct {
	URL    string       // the API's base URL
	Signer *keys.Signer // the log's key; its name is the origin
	Client *api.Client
	Seq    *sequencer.Log
}

// Start starts a log named origin that runs until the test ends. mapEpoch
// is how often it appends map-root entries; time.Hour keeps them out of
// the indices a test expects.
func Start(t testing.TB, origin string, mapEpoch time.Duration) *Log {
	t.Helper()
	skey, _, err := keys.Generate(origin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return StartSigner(t, signer, mapEpoch)
}

// StartSigner is Start with the log's key: two logs started with one key
// are a log that shows two histories, as a test of split views needs.
func StartSigner(t testing.TB, signer *keys.Signer, mapEpoch time.Duration) *Log {
	t.Helper()
	return StartWith(t, Options{Signer: signer, MapEpoch: mapEpoch})
}

// Options configure StartWith.
type Options struct {
	// Signer is the log's key. Required.
	Signer *keys.Signer
	// MapEpoch is how often the log appends map-root entries.
	MapEpoch time.Duration
	// Witnesses, if set, is the witness policy: each checkpoint is
	// published once its witnesses cosign it.
	Witnesses *policy.Policy
	// FailOpen publishes checkpoints without the witness quorum, as a log
	// that shows a victim a history its witnesses refused would.
	FailOpen bool
}

// StartWith starts a log with opts that runs until the test ends.
func StartWith(t testing.TB, opts Options) *Log {
	t.Helper()
	signer, mapEpoch := opts.Signer, opts.MapEpoch
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	var publish func(context.Context, uint64, []byte) ([]byte, error)
	if opts.Witnesses != nil {
		wc, err := witnessclient.New(witnessclient.Config{Policy: opts.Witnesses, LogKey: signer.VerifierKey(),
			Proofs: witnessclient.TileProofs(store), FailOpen: opts.FailOpen, Timeout: 5 * time.Second, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		publish = wc.Publish
	}
	l, err := sequencer.New(context.Background(), sequencer.Config{
		Signer: signer, Storage: store, Logger: quiet, MaxAge: 2 * time.Millisecond,
		PublishInterval: 10 * time.Millisecond, MapEpoch: mapEpoch, Publish: publish,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewServer(api.Config{Log: l, Storage: store, Logger: quiet, SyncTimeout: 5 * time.Second}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("log: %v", err)
		}
		store.Close()
	})
	c, err := api.NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Log{URL: srv.URL, Signer: signer, Client: c, Seq: l}
}
