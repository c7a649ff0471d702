package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/vrf"
)

const (
	origin = "log.example.org/credlog"
	issuer = "id.example.gov"
	t0     = uint64(1763856000)
)

// testLog is a real log: SQLite on disk, the sequencer, and the HTTP API
// on a loopback port.
type testLog struct {
	t      *testing.T
	logKey *keys.Signer
	issKey ed25519.PrivateKey
	store  *sqlite.Storage
	l      *sequencer.Log
	srv    *httptest.Server
	c      *api.Client
	cancel context.CancelFunc
	done   chan error
}

func newTestLog(t *testing.T, run bool, mutate func(*sequencer.Config)) *testLog {
	t.Helper()
	skey, _, err := keys.Generate(origin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := keys.ParseSigner(skey)
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	// No map-root entries (they would take indices the tests expect).
	cfg := sequencer.Config{Signer: signer, Storage: store, MaxAge: 2 * time.Millisecond, PublishInterval: 10 * time.Millisecond, MapEpoch: time.Hour}
	if mutate != nil {
		mutate(&cfg)
	}
	l, err := sequencer.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, ik, _ := ed25519.GenerateKey(nil)
	tl := &testLog{t: t, logKey: signer, issKey: ik, store: store, l: l, done: make(chan error, 1)}
	tl.srv = httptest.NewServer(api.NewServer(api.Config{Log: l, Storage: cfg.Storage, SyncTimeout: 5 * time.Second}))
	tl.c, _ = api.NewClient(tl.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	tl.cancel = cancel
	if run {
		go func() { tl.done <- l.Run(ctx) }()
	} else {
		tl.done <- nil
	}
	t.Cleanup(func() {
		tl.srv.Close()
		cancel()
		if err := <-tl.done; err != nil {
			t.Errorf("Run: %v", err)
		}
		store.Close()
	})
	return tl
}

func (tl *testLog) verifier() note.Verifier {
	v, err := note.NewVerifier(tl.logKey.VerifierKey())
	if err != nil {
		tl.t.Fatal(err)
	}
	return v
}

func (tl *testLog) sign(ev *entry.Event, key ed25519.PrivateKey, name string) []byte {
	tl.t.Helper()
	ev.KeyID = keys.KeyID(name, key.Public().(ed25519.PublicKey))
	if err := ev.Sign(key); err != nil {
		tl.t.Fatal(err)
	}
	b, err := ev.Marshal()
	if err != nil {
		tl.t.Fatal(err)
	}
	return b
}

func (tl *testLog) registration() []byte {
	ev := &entry.Event{Type: entry.TypeIssuerKey, Issuer: issuer, Time: t0, VRFKey: testVRFKey}
	copy(ev.PublicKey[:], tl.issKey.Public().(ed25519.PublicKey))
	return tl.sign(ev, tl.logKey.PrivateKey(), origin)
}

func subj(n int) entry.Hash { return sha256.Sum256(fmt.Appendf(nil, "subject %d", n)) }
func cred(n int) entry.Hash { return sha256.Sum256(fmt.Appendf(nil, "credential %d", n)) }

func (tl *testLog) issue(s, c int, version uint32, supersedes int) []byte {
	ev := &entry.Event{Type: entry.TypeIssue, Issuer: issuer, Time: t0, Subject: subj(s), Credential: cred(c),
		NotBefore: t0, NotAfter: t0 + 365*86400, Version: version}
	if supersedes >= 0 {
		h := cred(supersedes)
		ev.Supersedes = &h
	}
	return tl.sign(ev, tl.issKey, issuer)
}

func (tl *testLog) status(typ entry.Type, s, c int) []byte {
	ev := &entry.Event{Type: typ, Issuer: issuer, Time: t0 + 60, Subject: subj(s), Credential: cred(c)}
	if typ == entry.TypeRevoke || typ == entry.TypeSuspend {
		ev.Reason = entry.ReasonHolderRequest
	}
	return tl.sign(ev, tl.issKey, issuer)
}

func ed25519GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// testVRFKey is a valid VRF public key for issuer registrations.
var testVRFKey = func() [32]byte {
	k, err := vrf.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	return [32]byte(k.PublicKey())
}()
