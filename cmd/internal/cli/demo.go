package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/cmd/internal/logd"
	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/vrf"
	"github.com/credlog/credlog/witness"
)

const (
	demoOrigin = "demo.credlog.example/log"
	demoIssuer = "id.demo.example"
)

var demoCommand = &command{
	name:     "demo",
	synopsis: "[-dir DIR] [-listen ADDR] [-credentials N] [-exit]",
	summary:  "run a whole credlog system locally and show it at work",
	doc: `
Demo runs, on loopback and with embedded storage, a log, three witnesses
that cosign its checkpoints under a 2-of-3 policy, and a demo issuer. The
issuer issues -credentials credentials and suspends, resumes, revokes and
reissues some of them; then the demo shows, by running credlog's own
commands:

  - a holder fetching a bundle and an app verifying it (credlog bundle,
    credlog verify);
  - an app rejecting a revoked credential, and one that is not logged;
  - a holder's monitor raising an alert, with its evidence, when the
    issuer silently issues a second credential for the holder;
  - an auditor replaying the whole log and printing its statistics
    (credlog audit).

Everything is kept under -dir (a new temporary directory by default): the
keys, the policy, the databases, the bundles and the monitor's state.
Then it keeps serving until interrupted, printing where to look; with
-exit it stops at once.`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var dir, listen string
		var n int
		var exit bool
		fs.StringVar(&dir, "dir", "", "the `directory` to keep everything in (default: a new temporary one)")
		fs.StringVar(&listen, "listen", "127.0.0.1:8080", "the log's HTTP `address`")
		fs.IntVar(&n, "credentials", 300, "how many credentials the demo issuer issues")
		fs.BoolVar(&exit, "exit", false, "stop once the demonstration is over")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if n < 50 || n > 100000 {
				return usagef("-credentials must be between 50 and 100000, got %d", n)
			}
			if dir == "" {
				d, err := os.MkdirTemp("", "credlog-demo-")
				if err != nil {
					return err
				}
				dir = d
			} else if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			d := &demo{e: e, dir: dir, n: n}
			return d.run(ctx, listen, exit)
		}
	},
}

// runCommand is run, set at init: the demo runs credlog's commands, and
// the commands table holds the demo.
var runCommand func(*env, []string) int

func init() { runCommand = run }

// demo is one run of credlog demo.
type demo struct {
	e      *env
	dir    string
	n      int
	url    string // the log
	client *api.Client
	signer *keys.Signer // the issuer's
	vrfKey *vrf.PrivateKey
	files  struct{ key, vkey, vrfPub, policy string }
	step   int
}

// citizen is one holder of the demo issuer.
type citizen struct {
	idNumber string
	der      []byte
	label    entry.Hash
	version  uint32
}

func (c *citizen) id() entry.Hash { return credential.ID(c.der) }

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.e.stdout, format+"\n", args...)
}

func (d *demo) section(title string) {
	d.step++
	d.say("\n== %d. %s", d.step, title)
}

// credlog runs one of credlog's own commands in-process, showing it and
// its output as a shell would; it returns the exit code.
func (d *demo) credlog(args ...string) int {
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = strings.ReplaceAll(a, d.dir+string(filepath.Separator), "")
		if strings.ContainsAny(a, " \t") {
			shown[i] = "'" + shown[i] + "'"
		}
	}
	d.say("$ credlog %s", strings.Join(shown, " "))
	code := runCommand(&env{stdin: strings.NewReader(""), stdout: d.e.stdout, stderr: d.e.stdout, now: d.e.now}, args)
	if code != 0 {
		d.say("(exit status %d)", code)
	}
	return code
}

func (d *demo) path(name string) string { return filepath.Join(d.dir, name) }

func (d *demo) run(ctx context.Context, listen string, exit bool) error {
	d.say("credlog demo: everything is kept in %s", d.dir)

	// The keys: the log's, the issuer's (with credlog issuer keygen).
	logSkey, logVkey, err := keys.Generate(demoOrigin, rand.Reader)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.path("log"), 0o700); err != nil {
		return err
	}
	if err := keys.WritePrivateFile(d.path("log/log.key"), logSkey); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := os.MkdirAll(d.path("issuer"), 0o700); err != nil {
		return err
	}
	d.files.key = d.path("issuer/" + demoIssuer + ".key")
	d.files.vkey = d.path("issuer/" + demoIssuer + ".vkey")
	d.files.vrfPub = d.path("issuer/" + demoIssuer + ".vrf.pub")
	if _, err := os.Stat(d.files.key); err != nil {
		if code := runCommand(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: d.e.stderr, now: d.e.now},
			[]string{"issuer", "keygen", "-name", demoIssuer, "-dir", d.path("issuer")}); code != 0 {
			return errors.New("couldn't generate the issuer's keys")
		}
	}
	if d.signer, err = readSigner(d.files.key); err != nil {
		return err
	}
	if _, d.vrfKey, err = readVRFPrivate(d.path("issuer/" + demoIssuer + ".vrf.key")); err != nil {
		return err
	}
	skey, err := keys.ReadPrivateFile(d.path("log/log.key"))
	if err != nil {
		return err
	}
	logSigner, err := keys.ParseSigner(skey)
	if err != nil {
		return err
	}
	logVkey = logSigner.VerifierKey()

	// Three witnesses and the 2-of-3 policy.
	d.section("Three witnesses, and a 2-of-3 policy")
	policy := "log " + logVkey + "\n"
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("witness%d.demo.example", i)
		u, err := d.startWitness(ctx, name, logVkey, i)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("witness w%d %s %s", i, u.vkey, u.url)
		policy += line + "\n"
		d.say("witness w%d at %s", i, u.url)
	}
	policy += "group two-of-three 2 w1 w2 w3\nquorum two-of-three\n"
	d.files.policy = d.path("policy.txt")
	if err := os.WriteFile(d.files.policy, []byte(policy), 0o644); err != nil {
		return err
	}
	d.say("policy (c2sp.org/tlog-policy) in policy.txt:\n%s", strings.TrimSpace(policy))

	// The log.
	d.section("The log")
	vkeyText, err := os.ReadFile(d.files.vkey)
	if err != nil {
		return err
	}
	vrfText, err := os.ReadFile(d.files.vrfPub)
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(d.path("credlogd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cfg := &logd.Config{
		Origin: demoOrigin, DataDir: d.path("log"), Listen: listen, WitnessPolicy: d.files.policy,
		MapEpoch: logd.Duration{Duration: time.Second},
		Issuers:  []logd.IssuerConfig{{Name: demoIssuer, Key: strings.TrimSpace(string(vkeyText)), VRFKey: strings.TrimSpace(string(vrfText))}},
	}
	logCtx, stopLog := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLog()
	ready := make(chan string, 1)
	logDone := make(chan error, 1)
	go func() {
		logDone <- logd.Run(logCtx, cfg, slog.New(slog.NewTextHandler(logFile, nil)), func(addr string) { ready <- addr })
	}()
	select {
	case addr := <-ready:
		d.url = "http://" + addr
	case err := <-logDone:
		return fmt.Errorf("the log did not start: %w", err)
	}
	defer func() {
		stopLog()
		<-logDone
	}()
	if d.client, err = api.NewClient(d.url, nil); err != nil {
		return err
	}
	d.say("log %s at %s (its own log lines go to credlogd.log)", demoOrigin, d.url)
	if err := d.waitSize(ctx, 1); err != nil {
		return err
	}
	d.say("issuer %s registered at index 0, in a checkpoint cosigned by the witnesses", demoIssuer)

	if err := d.lifecycle(ctx); err != nil {
		return err
	}
	if exit {
		return nil
	}
	d.section("Still serving; interrupt (Ctrl-C) to stop")
	d.say("log:        %s  (GET /checkpoint, /tile/..., /lookup/subject/<label>, /metrics)", d.url)
	d.say("policy:     %s", d.files.policy)
	d.say("issuer:     %s", filepath.Dir(d.files.key))
	d.say("try:        credlog audit -log %s -policy %s", d.url, d.files.policy)
	d.say("            credlog monitor run -state %s -log %s -policy %s", d.path("holder/monitor.json"), d.url, d.files.policy)
	select {
	case <-ctx.Done():
		return nil
	case err := <-logDone:
		return err
	}
}

type demoWitness struct{ url, vkey string }

// startWitness runs a witness with its own SQLite database, trusting the
// log's key, on a loopback port, until ctx is done.
func (d *demo) startWitness(ctx context.Context, name, logVkey string, i int) (*demoWitness, error) {
	keyFile := d.path(fmt.Sprintf("witness%d.key", i))
	skey, err := keys.ReadPrivateFile(keyFile)
	if errors.Is(err, os.ErrNotExist) {
		if skey, _, err = witness.GenerateKey(name); err == nil {
			err = keys.WritePrivateFile(keyFile, skey)
		}
	}
	if err != nil {
		return nil, err
	}
	cosigner, err := witness.NewCosigner(skey)
	if err != nil {
		return nil, err
	}
	store, err := witness.OpenSQLite(ctx, d.path(fmt.Sprintf("witness%d.db", i)))
	if err != nil {
		return nil, err
	}
	if _, err := store.Log(ctx, demoOrigin); errors.Is(err, witness.ErrUnknownLog) {
		if err := store.AddLog(ctx, demoOrigin, []string{logVkey}); err != nil {
			return nil, err
		}
	}
	w, err := witness.New(witness.Options{Store: store, Cosigner: cosigner, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
		store.Close()
	}()
	return &demoWitness{url: "http://" + ln.Addr().String() + "/", vkey: cosigner.VerifierKey()}, nil
}

// waitSize waits for a published checkpoint of at least size entries.
func (d *demo) waitSize(ctx context.Context, size uint64) error {
	for {
		_, n, err := d.checkpointSize(ctx)
		if err == nil && n >= size {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *demo) checkpointSize(ctx context.Context) ([]byte, uint64, error) {
	raw, err := d.client.Checkpoint(ctx)
	if err != nil {
		return nil, 0, err
	}
	lines := strings.SplitN(string(raw), "\n", 3)
	if len(lines) < 2 {
		return nil, 0, errors.New("malformed checkpoint")
	}
	var n uint64
	_, err = fmt.Sscan(lines[1], &n)
	return raw, n, err
}

// waitMap waits until a map-root entry after index is in a published
// checkpoint, so that status proofs show every event up to index.
func (d *demo) waitMap(ctx context.Context, index uint64, c *citizen) error {
	for {
		r, err := d.client.MapCredential(ctx, demoIssuer, c.id())
		if err == nil && r.MapRootIndex > index && r.MapRootProof != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// newCredential issues the next credential of c, signed by the issuer,
// and returns its signed issue event.
func (d *demo) newCredential(c *citizen, supersedes *entry.Hash) ([]byte, error) {
	holder, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	now := d.e.now().Truncate(time.Second)
	tmpl := &credential.Template{IDNumber: c.idNumber, HolderKey: holder, NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(5, 0, 0)}
	der, label, err := credential.Issue(tmpl, demoIssuer, d.signer.PrivateKey(), d.vrfKey)
	if err != nil {
		return nil, err
	}
	c.der, c.label = der, label
	c.version++
	ev := &entry.Event{Type: entry.TypeIssue, Subject: label, Credential: credential.ID(der),
		NotBefore: uint64(tmpl.NotBefore.Unix()), NotAfter: uint64(tmpl.NotAfter.Unix()), Version: c.version, Supersedes: supersedes}
	return d.sign(ev)
}

func (d *demo) sign(ev *entry.Event) ([]byte, error) {
	ev.Issuer, ev.KeyID, ev.Time = demoIssuer, d.signer.KeyID(), uint64(d.e.now().Unix())
	if err := ev.Sign(d.signer.PrivateKey()); err != nil {
		return nil, err
	}
	return ev.Marshal()
}

func (d *demo) statusEvent(t entry.Type, c *citizen, reason entry.Reason) ([]byte, error) {
	return d.sign(&entry.Event{Type: t, Subject: c.label, Credential: c.id(), Reason: reason})
}

// submit logs events in batches and waits for a cosigned checkpoint
// covering them; it returns the index of the last.
func (d *demo) submit(ctx context.Context, events [][]byte) (uint64, error) {
	var last uint64
	for len(events) > 0 {
		n := min(len(events), 500)
		res, err := d.client.SubmitBatch(ctx, events[:n], false)
		if err != nil {
			return 0, err
		}
		for _, r := range res {
			if r.Error != "" {
				return 0, fmt.Errorf("the log refused an event: %s", r.Error)
			}
			last = r.Index
		}
		events = events[n:]
	}
	return last, d.waitSize(ctx, last+1)
}

// writeCert writes a citizen's certificate for the commands to read.
func (d *demo) writeCert(name string, c *citizen) (string, error) {
	p := d.path("holders/" + name + ".cert.der")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, c.der, 0o644)
}

// lifecycle is the demonstration proper.
func (d *demo) lifecycle(ctx context.Context) error {
	d.section(fmt.Sprintf("The issuer issues %d credentials, then suspends, resumes, revokes and reissues some", d.n))
	start := time.Now()
	citizens := make([]*citizen, d.n)
	var events [][]byte
	for i := range citizens {
		c := &citizen{idNumber: fmt.Sprintf("DEMO-%06d", i)}
		ev, err := d.newCredential(c, nil)
		if err != nil {
			return err
		}
		citizens[i], events = c, append(events, ev)
	}
	if _, err := d.submit(ctx, events); err != nil {
		return err
	}
	var counts [6]int
	events = events[:0]
	for i, c := range citizens {
		var ev []byte
		var err error
		switch {
		case i%10 == 1:
			ev, err = d.statusEvent(entry.TypeSuspend, c, entry.ReasonLegalOrder)
			counts[entry.TypeSuspend]++
		case i%15 == 2:
			ev, err = d.statusEvent(entry.TypeRevoke, c, entry.ReasonKeyCompromise)
			counts[entry.TypeRevoke]++
		case i%25 == 3:
			old := c.id()
			ev, err = d.newCredential(c, &old)
			counts[0]++
		default:
			continue
		}
		if err != nil {
			return err
		}
		events = append(events, ev)
	}
	for i, c := range citizens {
		if i%20 == 1 {
			ev, err := d.statusEvent(entry.TypeResume, c, 0)
			if err != nil {
				return err
			}
			events = append(events, ev)
			counts[entry.TypeResume]++
		}
	}
	last, err := d.submit(ctx, events)
	if err != nil {
		return err
	}
	d.say("%d issues, %d reissues, %d suspensions, %d resumptions, %d revocations: %d events logged in %s, each checkpoint cosigned by the witnesses",
		d.n, counts[0], counts[entry.TypeSuspend], counts[entry.TypeResume], counts[entry.TypeRevoke], last, time.Since(start).Round(time.Millisecond))

	holder, revoked, watched := citizens[7], citizens[2], citizens[42]
	if err := d.waitMap(ctx, last, holder); err != nil {
		return err
	}

	d.section("A holder fetches a bundle; an app verifies it offline")
	holderCert, err := d.writeCert("holder", holder)
	if err != nil {
		return err
	}
	verify := func(bundleFile string) int {
		return d.credlog("verify", "-bundle", bundleFile, "-policy", d.files.policy, "-issuer-key", d.files.vkey, "-vrf-key", d.files.vrfPub)
	}
	holderBundle := d.path("holders/holder.bundle")
	if code := d.credlog("bundle", "-log", d.url, "-cert", holderCert, "-out", holderBundle); code != 0 {
		return errors.New("couldn't fetch the holder's bundle")
	}
	if code := verify(holderBundle); code != 0 {
		return errors.New("the holder's bundle does not verify")
	}

	d.section("An app rejects a revoked credential")
	revokedCert, err := d.writeCert("revoked", revoked)
	if err != nil {
		return err
	}
	revokedBundle := d.path("holders/revoked.bundle")
	if code := d.credlog("bundle", "-log", d.url, "-cert", revokedCert, "-out", revokedBundle); code != 0 {
		return errors.New("couldn't fetch the revoked credential's bundle")
	}
	if code := verify(revokedBundle); code != ExitNotActive {
		return fmt.Errorf("verify of a revoked credential exited %d, want %d", code, ExitNotActive)
	}

	d.section("An app rejects a credential that is not logged")
	unlogged := &citizen{idNumber: holder.idNumber, version: holder.version}
	if _, err := d.newCredential(unlogged, nil); err != nil {
		return err
	}
	d.say("the issuer makes a second certificate for %s and keeps it out of the log; pasted into the holder's bundle:", holder.idNumber)
	forged, err := os.ReadFile(holderBundle)
	if err != nil {
		return err
	}
	lines := strings.Split(string(forged), "\n")
	lines[1] = "certificate " + base64.StdEncoding.EncodeToString(unlogged.der)
	forgedBundle := d.path("holders/unlogged.bundle")
	if err := os.WriteFile(forgedBundle, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return err
	}
	if code := verify(forgedBundle); code != ExitNotLogged {
		return fmt.Errorf("verify of an unlogged credential exited %d, want %d", code, ExitNotLogged)
	}

	d.section("A holder's monitor catches a silent reissue")
	watchedCert, err := d.writeCert("watched", watched)
	if err != nil {
		return err
	}
	state := d.path("holder/monitor.json")
	if err := os.MkdirAll(filepath.Dir(state), 0o700); err != nil {
		return err
	}
	d.credlog("monitor", "watch", "-state", state, "-cert", watchedCert, "-vrf-key", d.files.vrfPub, "-note", "my ID")
	if code := d.credlog("monitor", "run", "-once", "-state", state, "-log", d.url, "-policy", d.files.policy); code != 0 {
		return fmt.Errorf("the monitor exited %d before the reissue", code)
	}
	d.say("(no alert: the holder's own issue event is known)")
	d.say("the issuer now issues a second credential for %s, without telling its holder:", watched.idNumber)
	old := watched.id()
	ev, err := d.newCredential(watched, &old)
	if err != nil {
		return err
	}
	idx, err := d.submit(ctx, [][]byte{ev})
	if err != nil {
		return err
	}
	d.say("(logged at index %d)", idx)
	if code := d.credlog("monitor", "run", "-once", "-state", state, "-log", d.url, "-policy", d.files.policy); code != ExitAlerts {
		return fmt.Errorf("the monitor exited %d after the reissue, want %d", code, ExitAlerts)
	}

	d.section("An auditor replays the whole log")
	if code := d.credlog("audit", "-log", d.url, "-policy", d.files.policy, "-progress", "never"); code != 0 {
		return fmt.Errorf("the audit exited %d", code)
	}
	return nil
}
