package logd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

func TestParseConfigStrict(t *testing.T) {
	good := `{"origin": "log.example/credlog", "batch_max_age": "20ms", "issuers": [{"name": "a", "key": "k", "vrf_key": "v"}]}`
	c, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Origin != "log.example/credlog" || c.BatchMaxAge.Duration != 20*time.Millisecond || len(c.Issuers) != 1 {
		t.Fatalf("parsed %+v", c)
	}
	for name, bad := range map[string]string{
		"unknown key":        `{"origin": "x", "orign": "y"}`,
		"unknown issuer key": `{"issuers": [{"name": "a", "keys": "k"}]}`,
		"trailing object":    `{"origin": "x"} {}`,
		"duration number":    `{"batch_max_age": 50}`,
		"duration garbage":   `{"batch_max_age": "soon"}`,
		"negative duration":  `{"batch_max_age": "-1s"}`,
		"wrong type":         `{"queue_size": "many"}`,
		"not an object":      `[]`,
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%s: %s accepted", name, bad)
		}
	}
}

func TestSetDefaultsRejects(t *testing.T) {
	for name, c := range map[string]Config{
		"bad origin":        {Origin: "has space"},
		"negative queue":    {QueueSize: -1},
		"negative cache":    {ReadCache: -1},
		"negative pending":  {MapMaxPending: -1},
		"negative sqlite":   {SQLiteCacheMiB: -1},
		"deep map cache":    {MapCacheDepth: 25},
		"sqlite cache, pg":  {SQLiteCacheMiB: 8, Database: "postgres://localhost/credlog"},
		"issuer twice":      {Issuers: []IssuerConfig{{Name: "a"}, {Name: "a"}}},
		"issuer is the log": {Origin: "log", Issuers: []IssuerConfig{{Name: "log"}}},
	} {
		if err := c.SetDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var c Config
	if err := c.SetDefaults(); err != nil || c.Origin == "" || c.DataDir == "" || c.Listen == "" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
}

// issuerKeys is an issuer's key material, as credlog issuer keygen makes it.
type issuerKeys struct {
	signer *keys.Signer
	cfg    IssuerConfig
}

func newIssuer(t *testing.T, name string) issuerKeys {
	skey, vkey, err := keys.Generate(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	_, vrfPub, err := keys.GenerateVRF(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return issuerKeys{signer: s, cfg: IssuerConfig{Name: name, Key: vkey, VRFKey: vrfPub}}
}

func (ik issuerKeys) issue(t *testing.T, n int) []byte {
	ev := &entry.Event{Type: entry.TypeIssue, Issuer: ik.cfg.Name, Time: 1763856000, KeyID: ik.signer.KeyID(),
		Subject:    sha256.Sum256(fmt.Appendf(nil, "subject %d", n)),
		Credential: sha256.Sum256(fmt.Appendf(nil, "credential %d", n)),
		NotBefore:  1763856000, NotAfter: 1763856000 + 86400, Version: 1}
	if err := ev.Sign(ik.signer.PrivateKey()); err != nil {
		t.Fatal(err)
	}
	b, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// running is a credlogd started by Run in this process.
type running struct {
	c    *api.Client
	url  string // http://<addr>/
	stop func() error
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	return startWith(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startWith starts credlogd with the given logger.
func startWith(t *testing.T, cfg Config, logger *slog.Logger) *running {
	t.Helper()
	if cfg.MapEpoch.Duration == 0 {
		// No map-root entries among the indices the tests expect.
		cfg.MapEpoch = Duration{time.Hour}
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, &cfg, logger, func(a string) { addr <- a }) }()
	select {
	case a := <-addr:
		c, err := api.NewClient("http://"+a+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r := &running{c: c, url: "http://" + a + "/", stop: func() error { cancel(); return <-done }}
		t.Cleanup(func() { cancel() })
		return r
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	return nil
}

// logVerifier returns the verifier of the log key that credlogd wrote in
// dir, and the key file's content.
func logVerifier(t *testing.T, dir string) (note.Verifier, []byte) {
	t.Helper()
	vkey, err := os.ReadFile(filepath.Join(dir, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	return v, vkey
}

// waitSize polls the checkpoint until it reaches size.
func waitSize(t *testing.T, r *running, v note.Verifier, origin string, size uint64) *log.Checkpoint {
	t.Helper()
	for range 500 {
		raw, err := r.c.Checkpoint(context.Background())
		if err == nil {
			cp, _, _, err := log.ParseCheckpoint(raw, origin, v)
			if err != nil {
				t.Fatalf("checkpoint: %v", err)
			}
			if cp.Size >= size {
				return cp
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("checkpoint never reached size %d", size)
	return nil
}

// TestRunRestart runs credlogd on a fresh data directory, registers an
// issuer from the configuration, logs events, stops it, and starts it
// again: the key is reused, size, root and indexes are kept, the issuer
// is not registered twice, and appending goes on.
func TestRunRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	iss := newIssuer(t, "id.example.gov")
	cfg := Config{Origin: "log.example/credlog", DataDir: dir, Listen: "127.0.0.1:0",
		BatchMaxAge: Duration{2 * time.Millisecond}, Issuers: []IssuerConfig{iss.cfg}}
	ctx := context.Background()

	r := start(t, cfg)
	fi, err := os.Stat(filepath.Join(dir, "log.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log key: %v, mode %v", err, fi.Mode())
	}
	v, vkey := logVerifier(t, dir)
	waitSize(t, r, v, cfg.Origin, 1) // the issuer's registration
	first := iss.issue(t, 1)
	res, err := r.c.SubmitBatch(ctx, [][]byte{first, iss.issue(t, 2), iss.issue(t, 3)}, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		if x.Status != 0 || x.Index != uint64(i+1) {
			t.Fatalf("event %d: %+v", i, x)
		}
	}
	before := waitSize(t, r, v, cfg.Origin, 4)
	if err := r.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	// A verifier key file lost (say, by a crash just after the key was
	// made) is written again.
	if err := os.Remove(filepath.Join(dir, "log.vkey")); err != nil {
		t.Fatal(err)
	}

	r = start(t, cfg)
	raw, err := r.c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after, _, _, err := log.ParseCheckpoint(raw, cfg.Origin, v)
	if err != nil {
		t.Fatalf("checkpoint after restart does not verify under the first key: %v", err)
	}
	if after.Size != before.Size || !bytes.Equal(after.Hash, before.Hash) {
		t.Fatalf("after restart: size %d root %x, before: size %d root %x", after.Size, after.Hash, before.Size, before.Hash)
	}
	lr, err := r.c.LookupCredential(ctx, sha256.Sum256([]byte("credential 1")))
	if err != nil || len(lr.Events) != 1 || lr.Events[0].Index != 1 || !bytes.Equal(lr.Events[0].Entry, first) {
		t.Fatalf("lookup after restart: %+v, %v", lr, err)
	}
	if again, err := os.ReadFile(filepath.Join(dir, "log.vkey")); err != nil || !bytes.Equal(again, vkey) {
		t.Errorf("log.vkey after restart: %q, %v; want %q", again, err, vkey)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(tmp) != 0 {
		t.Errorf("temporary key files left: %v", tmp)
	}
	dup, err := r.c.Submit(ctx, first, false)
	if err != nil || !dup.Duplicate || dup.Index != 1 {
		t.Fatalf("resubmission after restart: %+v, %v", dup, err)
	}
	next, err := r.c.Submit(ctx, iss.issue(t, 4), true)
	if err != nil || next.Index != 4 {
		t.Fatalf("append after restart: %+v, %v", next, err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestMapMaxPending checks that map_max_pending reaches the sequencer:
// with the map epoch an hour away, the two credentials and two subjects
// of two issue events make it append a map-root entry at once.
func TestMapMaxPending(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	iss := newIssuer(t, "id.example.gov")
	cfg := Config{Origin: "log.example/credlog", DataDir: dir, Listen: "127.0.0.1:0",
		MapMaxPending: 4, MapCacheDepth: 3, SQLiteCacheMiB: 8, Issuers: []IssuerConfig{iss.cfg}}
	r := start(t, cfg)
	v, _ := logVerifier(t, dir)
	waitSize(t, r, v, cfg.Origin, 1) // the issuer's registration
	if _, err := r.c.SubmitBatch(context.Background(), [][]byte{iss.issue(t, 1), iss.issue(t, 2)}, true); err != nil {
		t.Fatal(err)
	}
	waitSize(t, r, v, cfg.Origin, 4)
	mp, err := r.c.MapCredential(context.Background(), iss.cfg.Name, sha256.Sum256([]byte("credential 2")))
	if err != nil || mp.MapRootIndex != 3 || len(mp.Value) == 0 {
		t.Fatalf("map proof of credential 2: %+v, %v; want one from the map-root entry at index 3", mp, err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestKeyRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Origin: "log.example/credlog", DataDir: dir, Listen: "127.0.0.1:0"}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	// A key named for another log.
	skey, _, err := keys.Generate("other.example/log", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.WritePrivateFile(filepath.Join(dir, "log.key"), skey); err != nil {
		t.Fatal(err)
	}
	c := cfg
	if err := Run(context.Background(), &c, logger, nil); err == nil || !strings.Contains(err.Error(), "another log") {
		t.Errorf("key of another log: %v", err)
	}

	// A key readable by others.
	if err := os.Chmod(filepath.Join(dir, "log.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	c = cfg
	if err := Run(context.Background(), &c, logger, nil); !errors.Is(err, keys.ErrPermissions) {
		t.Errorf("key with mode 0644: %v", err)
	}
}

func TestReadIssuerFiles(t *testing.T) {
	iss := newIssuer(t, "id.example.gov")
	prefix := filepath.Join(t.TempDir(), "id.example.gov")
	if err := keys.WritePublicFile(prefix+".vkey", iss.cfg.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadIssuerFiles(prefix); err == nil {
		t.Fatal("read an issuer without its .vrf.pub file")
	}
	if err := keys.WritePublicFile(prefix+".vrf.pub", iss.cfg.VRFKey); err != nil {
		t.Fatal(err)
	}
	got, err := ReadIssuerFiles(prefix)
	if err != nil || got != iss.cfg {
		t.Fatalf("ReadIssuerFiles = %+v, %v; want %+v", got, err, iss.cfg)
	}
}

// FuzzParseConfig checks that the config parser never panics and that a
// config it accepts survives a JSON round trip.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"origin": "log.example/credlog", "batch_max_age": "20ms"}`))
	f.Add([]byte(`{"issuers": [{"name": "a", "key": "k", "vrf_key": "v"}]}`))
	f.Add([]byte(`{"orign": 1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("accepted config does not encode: %v", err)
		}
		c2, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("re-encoded config %s does not parse: %v", b, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the config: %+v vs %+v", c, c2)
		}
	})
}
