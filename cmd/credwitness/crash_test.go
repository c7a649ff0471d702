package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/cmd/internal/proctest"
	"github.com/credlog/credlog/witness"
)

// The crash test runs credwitness as a real process, drives add-checkpoint
// requests for several test logs (honest growth, and forged checkpoints of
// sizes already cosigned: a split view), kills it with SIGKILL while
// requests are in flight and restarts it on the same database. Across all
// cycles, every cosignature returned must verify and no two cosigned
// checkpoints may have one (log, size) and two roots; after every restart
// the witness must refuse forged roots for sizes it cosigned before the
// crash, and its stored latest checkpoint must be the latest it
// acknowledged, or a later one it was sent but did not answer. See
// docs/RELIABILITY.md.

const (
	crashLogs          = 2 // test logs
	crashHonestPerLog  = 2 // goroutines growing each log, racing each other
	crashWitnessName   = "witness.example/crash"
	crashMinUptime     = 100 * time.Millisecond
	crashMaxUptime     = 600 * time.Millisecond
	crashMaxGrowth     = 16 // leaves added per checkpoint, at most
	crashRequestTimout = 30 * time.Second
)

func TestCrash(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	cycles := proctest.CrashCycles(t)
	start := time.Now()
	h := newCrashHarness(t)
	h.start()
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, l := range h.logs {
		for j := range crashHonestPerLog {
			rng := mrand.New(mrand.NewPCG(uint64(i), uint64(j)))
			wg.Go(func() { h.grow(ctx, rng, l) })
		}
		rng := mrand.New(mrand.NewPCG(uint64(i), 99))
		wg.Go(func() { h.forge(ctx, rng, l) })
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill times seeded with %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 0))
	for cycle := 1; cycle <= cycles && !t.Failed(); cycle++ {
		up := crashMinUptime + time.Duration(rng.Int64N(int64(crashMaxUptime-crashMinUptime)))
		time.Sleep(up)
		h.waitInFlight()
		h.kill()
		h.start()
		h.verify()
		t.Logf("cycle %d: killed after %v with %d add-checkpoint requests in flight; %s",
			cycle, up.Round(time.Millisecond), h.killedInFlight, h.summary())
	}
	stopLoad()
	wg.Wait()
	if !t.Failed() {
		h.verify()
	}
	h.kill()
	h.checkOffline()
	h.checkLogs()
	t.Logf("%d cycles in %v", cycles, time.Since(start).Round(time.Millisecond))
}

// crashLog is a test log whose tree the harness's goroutines share.
type crashLog struct {
	origin string
	signer note.Signer
	vkey   string
	hash   string // witness.OriginHash(origin)

	mu   sync.Mutex
	tree *testLog
}

// checkpoint returns the signed checkpoint of the honest tree at size, its
// text and root, and the consistency proof from old.
func (l *crashLog) checkpoint(old, size uint64) (cp []byte, text string, proof [][]byte, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	text = l.tree.text(size)
	if old > 0 {
		if proof, err = l.tree.tree.ConsistencyProof(old, size); err != nil {
			return nil, "", nil, err
		}
	}
	cp, err = note.Sign(&note.Note{Text: text}, l.signer)
	return cp, text, proof, err
}

// root returns the honest tree's root at size.
func (l *crashLog) root(size uint64) [32]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tree.text(size) // grows the tree
	return [32]byte(l.tree.tree.HashAt(size))
}

// forged returns a checkpoint of size with a random root, signed by the
// log's key: the other half of a split view.
func (l *crashLog) forged(size uint64) (cp []byte, text string, root [32]byte, err error) {
	rand.Read(root[:])
	text = fmt.Sprintf("%s\n%d\n%s\n", l.origin, size, base64.StdEncoding.EncodeToString(root[:]))
	cp, err = note.Sign(&note.Note{Text: text}, l.signer)
	return cp, text, root, err
}

// requestBody encodes an add-checkpoint request.
func requestBody(old uint64, proof [][]byte, cp []byte) []byte {
	b := fmt.Appendf(nil, "old %d\n", old)
	for _, p := range proof {
		b = fmt.Appendf(b, "%s\n", base64.StdEncoding.EncodeToString(p))
	}
	return append(append(b, '\n'), cp...)
}

// sizeKey is one (log, size).
type sizeKey struct {
	origin string
	size   uint64
}

// crashHarness is one credwitness process on a database, the load on it,
// and everything it answered.
type crashHarness struct {
	t      *testing.T
	bin    string // the credwitness binary
	db     string
	key    string
	wv     note.Verifier // the witness's cosignature verifier
	output *os.File      // credwitness's log, all runs
	logs   []*crashLog
	hc     *http.Client

	// gate is held for reading by every request, and for writing by
	// verify, which sees a witness that nothing else talks to.
	gate     sync.RWMutex
	inFlight atomic.Int64

	mu             sync.Mutex
	url            string
	proc           *os.Process
	exited         chan struct{}
	killedInFlight int64
	cosigned       map[sizeKey][32]byte       // every root cosigned, from responses and history
	cosignedSizes  map[string][]uint64        // the keys of cosigned, by log
	lastHistory    map[string]uint64          // the size of the last history entry read, by log
	latest         map[string]uint64          // the stored latest size verify saw last, by log
	acked          map[string]uint64          // the largest size acknowledged per log
	unanswered     map[sizeKey]bool           // honest sizes sent without an answer
	forgedAnswered map[sizeKey][][32]byte     // forged roots the witness answered (refused)
	requests       map[string]int             // requests by outcome
	verifiedHist   map[string]int64           // history read so far, by log
	historySizes   map[string]map[uint64]bool // sizes in the stored history, by log
}

func newCrashHarness(t *testing.T) *crashHarness {
	tmp := t.TempDir()
	h := &crashHarness{
		t: t, bin: proctest.Build(t, tmp, "credwitness"), db: filepath.Join(tmp, "witness.db"), key: filepath.Join(tmp, "witness.key"),
		hc:       &http.Client{Timeout: crashRequestTimout},
		cosigned: map[sizeKey][32]byte{}, cosignedSizes: map[string][]uint64{}, lastHistory: map[string]uint64{}, latest: map[string]uint64{}, acked: map[string]uint64{}, unanswered: map[sizeKey]bool{},
		forgedAnswered: map[sizeKey][][32]byte{}, requests: map[string]int{},
		verifiedHist: map[string]int64{}, historySizes: map[string]map[uint64]bool{},
	}

	wvkey := strings.TrimSpace(mustRun(t, "keygen", "-name", crashWitnessName, "-out", h.key))
	wv, err := fnote.NewVerifierForCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	h.wv = wv
	for i := range crashLogs {
		tl := newTestLog(t, fmt.Sprintf("crash.example/log%d", i))
		h.logs = append(h.logs, &crashLog{origin: tl.origin, signer: tl.signer, vkey: tl.vkey, hash: witness.OriginHash(tl.origin), tree: tl})
		mustRun(t, "add-log", "-db", h.db, "-origin", tl.origin, "-key", tl.vkey)
		h.historySizes[tl.origin] = map[uint64]bool{}
	}
	h.output = proctest.Output(t, tmp, "credwitness")
	t.Cleanup(h.kill)
	return h
}

// start starts credwitness and waits until it serves. A port taken while
// the witness was down is replaced by another.
func (h *crashHarness) start() {
	h.t.Helper()
	for range 5 {
		addr := proctest.FreeAddr(h.t)
		fmt.Fprintf(h.output, "--- harness: starting credwitness on %s\n", addr)
		cmd := exec.Command(h.bin, "serve", "-db", h.db, "-key", h.key, "-listen", addr, "-requests-per-day", "0")
		cmd.Stdout, cmd.Stderr = h.output, h.output
		if err := cmd.Start(); err != nil {
			h.t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if !h.waitServing("http://"+addr, exited) {
			continue
		}
		h.mu.Lock()
		h.url, h.proc, h.exited = "http://"+addr, cmd.Process, exited
		h.mu.Unlock()
		return
	}
	h.t.Fatal("credwitness did not start")
}

// waitServing waits until /healthz answers 200, and reports whether it
// did before the process exited.
func (h *crashHarness) waitServing(base string, exited chan struct{}) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		resp, err := h.hc.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// waitInFlight waits, for up to a second, until an add-checkpoint request
// is in flight, so that the kill lands during one.
func (h *crashHarness) waitInFlight() {
	for range 1000 {
		if h.inFlight.Load() > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// kill kills credwitness with SIGKILL, if it runs, and waits for it to exit.
func (h *crashHarness) kill() {
	h.mu.Lock()
	proc, exited := h.proc, h.exited
	h.proc = nil
	h.killedInFlight = h.inFlight.Load()
	h.mu.Unlock()
	if proc == nil {
		return
	}
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		h.t.Errorf("couldn't kill credwitness: %v", err)
	}
	<-exited
	fmt.Fprintf(h.output, "--- harness: killed credwitness\n")
}

func (h *crashHarness) base() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.url
}

// post sends an add-checkpoint request under the gate. err is set when no
// answer came: the witness may or may not have acted on the request.
func (h *crashHarness) post(body []byte) (int, []byte, error) {
	h.gate.RLock()
	defer h.gate.RUnlock()
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	resp, err := h.hc.Post(h.base()+"/add-checkpoint", "", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// grow advances a log's checkpoint at the witness until ctx is done, as an
// honest log does: each request from the size it believes the witness
// holds, with a real consistency proof. Another goroutine grows the same
// log, so some requests lose the race and get 409.
func (h *crashHarness) grow(ctx context.Context, rng *mrand.Rand, l *crashLog) {
	var old uint64
	for ctx.Err() == nil {
		size := old + 1 + rng.Uint64N(crashMaxGrowth)
		cp, text, proof, err := l.checkpoint(old, size)
		if err != nil {
			h.t.Errorf("%s: couldn't build checkpoint %d: %v", l.origin, size, err)
			return
		}
		code, b, err := h.post(requestBody(old, proof, cp))
		switch {
		case err != nil:
			h.count("unanswered", sizeKey{l.origin, size})
			time.Sleep(5 * time.Millisecond)
		case code == http.StatusOK:
			h.cosignedAnswer(l, size, text, b)
			old = size
		case code == http.StatusConflict:
			h.count("conflict", sizeKey{})
			n, err := strconv.ParseUint(strings.TrimSuffix(string(b), "\n"), 10, 64)
			if err != nil {
				h.t.Errorf("%s: 409 with body %q", l.origin, b)
				return
			}
			old = n
		default:
			h.t.Errorf("%s: honest checkpoint %d from old %d: %d %s", l.origin, size, old, code, b)
			return
		}
	}
}

// forge sends forged checkpoints of sizes the witness cosigned, with
// other roots and the log's signature, until ctx is done. The witness
// must refuse every one: 422 at its latest size, 409 at an earlier size
// sent as the old size, 400 with an old size larger than the checkpoint.
func (h *crashHarness) forge(ctx context.Context, rng *mrand.Rand, l *crashLog) {
	for ctx.Err() == nil {
		time.Sleep(time.Duration(rng.Int64N(int64(5 * time.Millisecond))))
		h.mu.Lock()
		latest, sizes := h.acked[l.origin], h.cosignedSizes[l.origin]
		h.mu.Unlock()
		if latest == 0 {
			continue
		}
		// A size cosigned before, as the old size too (409, or 422 if
		// it is the latest), or from the latest acknowledged size (400,
		// or 422 if it is that size).
		size, old := sizes[rng.IntN(len(sizes))], latest
		switch rng.IntN(3) {
		case 0:
			size = latest
		case 1:
			old = size
		}
		cp, text, root, err := l.forged(size)
		if err != nil {
			h.t.Errorf("%s: couldn't sign forged checkpoint: %v", l.origin, err)
			return
		}
		code, b, err := h.post(requestBody(old, nil, cp))
		switch {
		case err != nil:
			h.count("forged unanswered", sizeKey{})
		case code == http.StatusOK:
			h.t.Errorf("%s: the witness cosigned a forged checkpoint of size %d (old %d), which it had cosigned with another root", l.origin, size, old)
			h.cosignedAnswer(l, size, text, b)
		case code == http.StatusUnprocessableEntity, code == http.StatusConflict, code == http.StatusBadRequest:
			h.mu.Lock()
			k := sizeKey{l.origin, size}
			h.forgedAnswered[k] = append(h.forgedAnswered[k], root)
			h.requests[fmt.Sprintf("forged %d", code)]++
			h.mu.Unlock()
		default:
			h.t.Errorf("%s: forged checkpoint %d from old %d: %d %s", l.origin, size, old, code, b)
		}
	}
}

func (h *crashHarness) count(outcome string, unanswered sizeKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests[outcome]++
	if unanswered.origin != "" {
		h.unanswered[unanswered] = true
	}
}

// cosignedAnswer checks the cosignature of a 200 answer and records the
// checkpoint as cosigned.
func (h *crashHarness) cosignedAnswer(l *crashLog, size uint64, text string, cosig []byte) {
	if _, err := note.Open(append([]byte(text+"\n"), cosig...), note.VerifierList(h.wv)); err != nil {
		h.t.Errorf("%s: cosignature on checkpoint %d does not verify: %v\n%s", l.origin, size, err, cosig)
	}
	root, err := checkpointRoot(text)
	if err != nil {
		h.t.Error(err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests["cosigned"]++
	h.recordCosigned(sizeKey{l.origin, size}, root, "an answer")
	h.acked[l.origin] = max(h.acked[l.origin], size)
}

// recordCosigned records a cosigned root, failing the test if another
// root was cosigned for the same log and size. h.mu is held.
func (h *crashHarness) recordCosigned(k sizeKey, root [32]byte, from string) {
	prev, ok := h.cosigned[k]
	if ok && prev != root {
		h.t.Errorf("%s: the witness cosigned two roots for size %d: %x, and %x in %s", k.origin, k.size, prev, root, from)
	}
	if !ok {
		h.cosigned[k] = root
		h.cosignedSizes[k.origin] = append(h.cosignedSizes[k.origin], k.size)
	}
}

// checkpointRoot returns the root hash of a checkpoint text.
func checkpointRoot(text string) ([32]byte, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 3 {
		return [32]byte{}, fmt.Errorf("checkpoint text %q", text)
	}
	b, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(b) != 32 {
		return [32]byte{}, fmt.Errorf("checkpoint text %q: bad root", text)
	}
	return [32]byte(b), nil
}

func (h *crashHarness) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var sizes []string
	for _, l := range h.logs {
		sizes = append(sizes, fmt.Sprintf("%s at %d", l.origin, h.acked[l.origin]))
	}
	return fmt.Sprintf("%s; requests %v", strings.Join(sizes, ", "), h.requests)
}

// get fetches a path from the running witness.
func (h *crashHarness) get(path string) (int, []byte) {
	h.t.Helper()
	resp, err := h.hc.Get(h.base() + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, b
}

// verify checks the restarted witness, with the load paused.
func (h *crashHarness) verify() {
	h.t.Helper()
	h.gate.Lock()
	defer h.gate.Unlock()
	for _, l := range h.logs {
		latest := h.checkLatest(l)
		h.checkHistory(l, latest)
		h.probeForgeries(l, latest)
	}
	h.checkEvidence()
}

// checkLatest checks the stored latest checkpoint of a log and returns
// its size: signed by the log and cosigned by the witness, with the
// honest root; the largest size acknowledged, or a larger one sent
// without an answer.
func (h *crashHarness) checkLatest(l *crashLog) uint64 {
	h.t.Helper()
	code, b := h.get("/" + l.hash + "/checkpoint")
	h.mu.Lock()
	acked := h.acked[l.origin]
	h.mu.Unlock()
	if code == http.StatusNotFound && acked == 0 {
		return 0
	}
	if code != http.StatusOK {
		h.t.Fatalf("%s: GET checkpoint: %d %s", l.origin, code, b)
	}
	lv, err := note.NewVerifier(l.vkey)
	if err != nil {
		h.t.Fatal(err)
	}
	n, err := note.Open(b, note.VerifierList(lv, h.wv))
	if err != nil || len(n.Sigs) != 2 {
		h.t.Fatalf("%s: stored latest checkpoint does not carry the log's signature and the witness's cosignature: %v\n%s", l.origin, err, b)
	}
	lines := strings.Split(n.Text, "\n")
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		h.t.Fatalf("%s: stored latest checkpoint %q", l.origin, n.Text)
	}
	root, err := checkpointRoot(n.Text)
	if err != nil {
		h.t.Fatal(err)
	}
	if want := l.root(size); root != want {
		h.t.Errorf("%s: stored latest checkpoint of size %d has root %x, not the honest tree's %x", l.origin, size, root, want)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case size < acked:
		h.t.Errorf("%s: stored latest size %d is below the acknowledged %d: the witness rolled back", l.origin, size, acked)
	case size > acked && !h.unanswered[sizeKey{l.origin, size}]:
		h.t.Errorf("%s: stored latest size %d is above the acknowledged %d and was never sent unanswered", l.origin, size, acked)
	}
	h.recordCosigned(sizeKey{l.origin, size}, root, "the stored latest checkpoint")
	h.latest[l.origin] = size
	return size
}

// checkHistory reads the history the witness stored since the last
// verify: every entry is cosigned with a valid cosignature, has the honest
// root, and the sizes increase up to the latest; every acknowledged size
// is in it.
func (h *crashHarness) checkHistory(l *crashLog, latest uint64) {
	h.t.Helper()
	lv, err := note.NewVerifier(l.vkey)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	after, last := h.verifiedHist[l.origin], h.lastHistory[l.origin]
	h.mu.Unlock()
	for {
		code, b := h.get(fmt.Sprintf("/%s/history?after=%d", l.hash, after))
		if code != http.StatusOK {
			h.t.Fatalf("%s: GET history: %d %s", l.origin, code, b)
		}
		var page []*witness.HistoryEntry
		if err := json.Unmarshal(b, &page); err != nil {
			h.t.Fatalf("%s: history: %v", l.origin, err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if _, err := note.Open([]byte(e.Cosigned), note.VerifierList(lv, h.wv)); err != nil {
				h.t.Errorf("%s: history entry %d (size %d) does not verify: %v", l.origin, e.ID, e.Size, err)
			}
			if want := l.root(e.Size); !bytes.Equal(e.Root, want[:]) {
				h.t.Errorf("%s: history entry %d cosigned size %d with root %x, not the honest %x", l.origin, e.ID, e.Size, e.Root, want)
			}
			h.mu.Lock()
			if last != 0 && e.Size <= last {
				h.t.Errorf("%s: history goes from size %d to %d", l.origin, last, e.Size)
			}
			h.recordCosigned(sizeKey{l.origin, e.Size}, [32]byte(e.Root), "the history")
			h.historySizes[l.origin][e.Size] = true
			h.verifiedHist[l.origin], h.lastHistory[l.origin] = e.ID, e.Size
			h.mu.Unlock()
			last, after = e.Size, e.ID
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if last != 0 && last != latest {
		h.t.Errorf("%s: the history ends at size %d, the latest checkpoint is %d", l.origin, last, latest)
	}
	for k := range h.cosigned {
		if k.origin == l.origin && !h.historySizes[l.origin][k.size] {
			h.t.Errorf("%s: size %d was cosigned but is not in the history", l.origin, k.size)
		}
	}
}

// probeForgeries sends forged checkpoints of the latest size and of an
// earlier cosigned size to the restarted witness: neither may be
// cosigned; the first must be refused as a root mismatch, the second as a
// conflict naming the latest size, or as malformed from the latest size.
func (h *crashHarness) probeForgeries(l *crashLog, latest uint64) {
	h.t.Helper()
	if latest == 0 {
		return
	}
	probe := func(size, old uint64, want int, wantBody string) {
		cp, _, root, err := l.forged(size)
		if err != nil {
			h.t.Fatal(err)
		}
		resp, err := h.hc.Post(h.base()+"/add-checkpoint", "", bytes.NewReader(requestBody(old, nil, cp)))
		if err != nil {
			h.t.Fatalf("%s: forged probe: %v", l.origin, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (wantBody != "" && string(b) != wantBody) {
			h.t.Errorf("%s: forged checkpoint of cosigned size %d (old %d) after a restart: %d %q, want %d %q",
				l.origin, size, old, resp.StatusCode, b, want, wantBody)
		}
		h.mu.Lock()
		k := sizeKey{l.origin, size}
		h.forgedAnswered[k] = append(h.forgedAnswered[k], root)
		h.mu.Unlock()
	}
	probe(latest, latest, http.StatusUnprocessableEntity, "")
	h.mu.Lock()
	sizes := h.cosignedSizes[l.origin]
	h.mu.Unlock()
	if earlier := sizes[mrand.IntN(len(sizes))]; earlier < latest {
		probe(earlier, earlier, http.StatusConflict, fmt.Sprintf("%d\n", latest))
		probe(earlier, latest, http.StatusBadRequest, "")
	}
}

// checkEvidence checks that every forged checkpoint the witness answered
// is in its stored evidence, against the root it had cosigned.
func (h *crashHarness) checkEvidence() {
	h.t.Helper()
	type pair struct {
		k      sizeKey
		first  [32]byte
		second [32]byte
	}
	stored := map[pair]bool{}
	var after int64
	for {
		code, b := h.get(fmt.Sprintf("/evidence?after=%d", after))
		if code != http.StatusOK {
			h.t.Fatalf("GET evidence: %d %s", code, b)
		}
		var page []*witness.Evidence
		if err := json.Unmarshal(b, &page); err != nil {
			h.t.Fatalf("evidence: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			stored[pair{sizeKey{e.Origin, e.Size}, [32]byte(e.FirstRoot), [32]byte(e.SecondRoot)}] = true
			after = e.ID
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, roots := range h.forgedAnswered {
		for _, r := range roots {
			if !stored[pair{k, h.cosigned[k], r}] {
				h.t.Errorf("%s: forged root %x for cosigned size %d was refused but is not in the evidence", k.origin, r, k.size)
			}
		}
	}
}

// checkOffline reads the killed witness's database with credwitness list:
// with nothing in flight at the last kill, each log's latest checkpoint is
// the one the last verify saw.
func (h *crashHarness) checkOffline() {
	h.t.Helper()
	out := mustRun(h.t, "list", "-db", h.db)
	got := map[string]uint64{}
	for line := range strings.Lines(out) {
		var st witness.LogState
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			h.t.Fatalf("list: %v: %q", err, line)
		}
		if st.Latest != nil {
			got[st.Origin] = st.Latest.Size
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.logs {
		if got[l.origin] != h.latest[l.origin] {
			h.t.Errorf("%s: the killed witness's database holds size %d, the last check saw %d", l.origin, got[l.origin], h.latest[l.origin])
		}
	}
}

// checkLogs fails the test if credwitness panicked, reported a data race
// or logged an error other than the equivocation the forgeries cause.
func (h *crashHarness) checkLogs() {
	b := proctest.CheckOutput(h.t, h.output, "credwitness")
	var equivocations int
	for line := range strings.Lines(string(b)) {
		switch {
		case strings.Contains(line, "level=ERROR") && strings.Contains(line, `msg="log equivocation`):
			equivocations++
		case strings.Contains(line, "level=ERROR"):
			h.t.Errorf("credwitness logged an error: %s", line)
		}
	}
	if equivocations == 0 {
		h.t.Error("credwitness logged no equivocation, though it was sent forged checkpoints")
	}
}
