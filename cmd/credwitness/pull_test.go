package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/cmd/internal/logd"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/witness"
)

// TestPullFollowsCredlog runs a real credlogd and a witness in pull mode:
// the witness fetches the log's checkpoint, builds consistency proofs
// from its tiles, and cosigns each growth, without the log ever calling it.
func TestPullFollowsCredlog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	skey, vkey, err := keys.Generate("id.example.gov", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, vrfPub, err := keys.GenerateVRF("id.example.gov", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &logd.Config{Origin: "log.example/credlog", DataDir: filepath.Join(dir, "log"), Listen: "127.0.0.1:0",
		BatchMaxAge: logd.Duration{Duration: 2 * time.Millisecond}, MapEpoch: logd.Duration{Duration: time.Hour},
		Issuers: []logd.IssuerConfig{{Name: "id.example.gov", Key: vkey, VRFKey: vrfPub}}}
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- logd.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()
	logURL, _ := url.Parse("http://" + addr + "/")
	c, _ := api.NewClient(logURL.String(), nil)
	logVKey, err := os.ReadFile(filepath.Join(cfg.DataDir, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}

	store, err := witness.OpenSQLite(ctx, filepath.Join(dir, "witness.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.AddLog(ctx, cfg.Origin, []string{strings.TrimSpace(string(logVKey))}); err != nil {
		t.Fatal(err)
	}
	wskey, wvkey, err := witness.GenerateKey("witness.example")
	if err != nil {
		t.Fatal(err)
	}
	cosigner, err := witness.NewCosigner(wskey)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Options{Store: store, Cosigner: cosigner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(n int) []byte {
		ev := &entry.Event{Type: entry.TypeIssue, Issuer: "id.example.gov", Time: 1763856000, KeyID: signer.KeyID(),
			Subject: sha256.Sum256(fmt.Appendf(nil, "s%d", n)), Credential: sha256.Sum256(fmt.Appendf(nil, "c%d", n)),
			NotBefore: 1763856000, NotAfter: 1795392000, Version: 1}
		if err := ev.Sign(signer.PrivateKey()); err != nil {
			t.Fatal(err)
		}
		b, _ := ev.Marshal()
		return b
	}

	var want uint64 = 1 // the issuer's registration
	for round, n := range []int{0, 300, 5, 700} {
		var batch [][]byte
		for i := range n {
			batch = append(batch, issue(round*1000+i))
		}
		if n > 0 {
			if _, err := c.SubmitBatch(ctx, batch, true); err != nil {
				t.Fatal(err)
			}
		}
		want += uint64(n)
		var size uint64
		for range 200 { // the registration is published shortly after start
			if size, err = w.Pull(ctx, cfg.Origin, logURL, http.DefaultClient); err == nil && size == want {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil || size != want {
			t.Fatalf("round %d: pulled size %d, %v; want %d", round, size, err, want)
		}
	}

	// The monitoring read serves the cosigned checkpoint, which verifies
	// with the log key and, through formats, with the witness's key.
	resp, err := http.Get(fmt.Sprintf("%s/%x/checkpoint", serveWitness(t, w), sha256.Sum256([]byte(cfg.Origin))))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lv, _ := note.NewVerifier(strings.TrimSpace(string(logVKey)))
	wv, err := fnote.NewVerifierForCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cosigned, note.VerifierList(lv, wv))
	if err != nil || len(n.Sigs) != 2 {
		t.Fatalf("cosigned checkpoint %q: %v", cosigned, err)
	}
	if !strings.HasPrefix(n.Text, fmt.Sprintf("%s\n%d\n", cfg.Origin, want)) {
		t.Fatalf("cosigned checkpoint is not of size %d: %q", want, n.Text)
	}
}

// serveWitness serves w's HTTP API on loopback and returns its base URL.
func serveWitness(t *testing.T, w *witness.Witness) string {
	t.Helper()
	srv := &http.Server{Handler: w.Handler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
