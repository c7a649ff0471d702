package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/transparency-dev/tessera/api/layout"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/vmap"
)

// readConfig is a read run.
type readConfig struct {
	URL         string
	Mode        string // tiles, proofs, lookups or maps
	Seed        string
	Events      int // events of Seed that write wrote, for lookups and maps
	Concurrency int
	Duration    time.Duration
	Warmup      time.Duration
	Gzip        bool
}

func readCommand(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("credload read", flag.ContinueOnError)
	var c readConfig
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "the log's `URL`")
	fs.StringVar(&c.Mode, "mode", "tiles", "what to read: tiles (full level-0 tiles and entry bundles), proofs (inclusion proofs), lookups (credential lookups) or maps (credential status proofs from the verifiable map, each checked)")
	fs.StringVar(&c.Seed, "seed", "credload", "`seed` that write used, for lookups and maps")
	fs.IntVar(&c.Events, "events", 0, "`number` of events write wrote with -seed, for lookups and maps")
	fs.IntVar(&c.Concurrency, "concurrency", 32, "`number` of concurrent requests")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to measure")
	fs.DurationVar(&c.Warmup, "warmup", time.Second, "how long to read before measuring")
	fs.BoolVar(&c.Gzip, "gzip", false, "ask for compressed answers, as Go's default HTTP client does")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case c.Mode != "tiles" && c.Mode != "proofs" && c.Mode != "lookups" && c.Mode != "maps":
		return usagef("-mode must be tiles, proofs, lookups or maps, not %q", c.Mode)
	case c.Concurrency < 1 || c.Duration <= 0 || c.Warmup < 0 || c.Events < 0:
		return usagef("-concurrency and -duration must be positive; -warmup and -events not negative")
	case (c.Mode == "lookups" || c.Mode == "maps") && c.Events == 0:
		return usagef("%s need -events: how many events write wrote with -seed", c.Mode)
	}
	r, err := runRead(ctx, c, logger)
	if err != nil {
		return err
	}
	return printReport(stdout, r, *asJSON)
}

// readReport is the result of a read run.
type readReport struct {
	Mode              string         `json:"mode"`
	Concurrency       int            `json:"concurrency"`
	Gzip              bool           `json:"gzip"`
	Size              uint64         `json:"size"` // checkpoint size read under
	Seconds           float64        `json:"seconds"`
	Requests          int            `json:"requests"`
	OK                int            `json:"ok"`
	RequestsPerSecond float64        `json:"requests_per_second"` // successful
	Latency           latency        `json:"latency"`
	Errors            map[string]int `json:"errors"` // failed requests by status
	Server            serverUse      `json:"server"`
	Machine           machine        `json:"machine"`
}

// errBadAnswer is a 200 answer that is not what was asked for.
var errBadAnswer = errors.New("bad answer")

// probe sends one read and returns its status; the error is errBadAnswer
// for a wrong 200 answer, or a transport error.
type probe func(ctx context.Context, rng *rand.Rand, buf *bytes.Buffer) (int, error)

func runRead(ctx context.Context, c readConfig, logger *slog.Logger) (*readReport, error) {
	t := newTarget(c.URL, c.Concurrency+1, c.Gzip)
	defer t.close()
	var buf bytes.Buffer
	size, err := t.checkpointSize(ctx, &buf)
	if err != nil {
		return nil, err
	}
	p, err := newProbe(t, c, size)
	if err != nil {
		return nil, err
	}
	r := &readReport{Mode: c.Mode, Concurrency: c.Concurrency, Gzip: c.Gzip, Size: size, Errors: map[string]int{},
		Machine: machine{CPUs: runtime.NumCPU(), LoadAvgStart: loadAverage()}}
	logger.Info("reading", "mode", c.Mode, "size", size, "concurrency", c.Concurrency, "warmup", c.Warmup, "duration", c.Duration)
	cpu0 := cpuTime()
	use := startSampler(ctx, t)
	from := time.Now().Add(c.Warmup)
	until := from.Add(c.Duration)
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for w := range c.Concurrency {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var buf bytes.Buffer
			var lat []time.Duration
			errs := map[string]int{}
			for {
				start := time.Now()
				if !start.Before(until) || ctx.Err() != nil {
					break
				}
				status, err := p(ctx, rng, &buf)
				if start.Before(from) {
					continue
				}
				lat = append(lat, time.Since(start))
				switch {
				case errors.Is(err, errBadAnswer):
					errs[err.Error()]++
				case err != nil:
					errs[statusKey(0)]++
				case status != http.StatusOK:
					errs[statusKey(status)]++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			all = append(all, lat...)
			for k, v := range errs {
				r.Errors[k] += v
			}
		})
	}
	wg.Wait()
	r.Seconds = time.Since(from).Seconds()
	r.Machine.LoadAvgEnd = loadAverage()
	r.Server = use.stop(ctx)
	r.Machine.ClientCPUSeconds = (cpuTime() - cpu0).Seconds()
	r.Requests = len(all)
	r.OK = r.Requests
	for _, n := range r.Errors {
		r.OK -= n
	}
	r.RequestsPerSecond = float64(r.OK) / r.Seconds
	r.Latency = summarize(all)
	return r, nil
}

// newProbe returns the probe of c.Mode for a log of size entries.
func newProbe(t *target, c readConfig, size uint64) (probe, error) {
	switch c.Mode {
	case "tiles":
		full := size / tiles.Width
		if full == 0 {
			return nil, fmt.Errorf("the log has %d entries: no full tile to read yet", size)
		}
		return func(ctx context.Context, rng *rand.Rand, buf *bytes.Buffer) (int, error) {
			n := rng.Uint64N(full)
			if rng.IntN(2) == 0 {
				status, err := t.do(ctx, "/"+layout.TilePath(0, n, 0), nil, buf)
				return answer(status, err, buf.Len() == tiles.Width*32)
			}
			status, err := t.do(ctx, "/"+layout.EntriesPath(n, 0), nil, buf)
			return answer(status, err, bundleLen(buf.Bytes()) == tiles.Width)
		}, nil
	case "proofs":
		if size == 0 {
			return nil, errors.New("the log is empty: no proof to read yet")
		}
		return func(ctx context.Context, rng *rand.Rand, buf *bytes.Buffer) (int, error) {
			status, err := t.do(ctx, fmt.Sprintf("/proof/inclusion?index=%d&size=%d", rng.Uint64N(size), size), nil, buf)
			return answer(status, err, buf.Len() > 0)
		}, nil
	case "maps":
		return func(ctx context.Context, rng *rand.Rand, buf *bytes.Buffer) (int, error) {
			id := credentialID(c.Seed, rng.IntN(c.Events))
			status, err := t.do(ctx, mapPath(id), nil, buf)
			return answer(status, err, err == nil && status == http.StatusOK && checkMapProof(buf.Bytes(), id) == nil)
		}, nil
	default:
		return func(ctx context.Context, rng *rand.Rand, buf *bytes.Buffer) (int, error) {
			id := credentialID(c.Seed, rng.IntN(c.Events))
			status, err := t.do(ctx, "/lookup/credential/"+hex.EncodeToString(id[:]), nil, buf)
			var lr api.LookupResponse
			ok := err == nil && status == http.StatusOK && json.Unmarshal(buf.Bytes(), &lr) == nil && len(lr.Events) > 0
			return answer(status, err, ok)
		}, nil
	}
}

// mapPath is the path of the map proof of credential id of the load
// issuer.
func mapPath(id entry.Hash) string {
	return "/map/credential/" + hex.EncodeToString(id[:]) + "?issuer=" + issuerName
}

// checkMapProof checks a map proof answer as a relying party would,
// short of the checkpoint: the map-root entry parses, and the proof shows
// credential id of the load issuer active in that entry's map. (The
// events credload writes issue credentials, which stay active.)
func checkMapProof(b []byte, id entry.Hash) error {
	var mp api.MapProofResponse
	if err := json.Unmarshal(b, &mp); err != nil {
		return err
	}
	ev, err := entry.Parse(mp.MapRootEntry)
	if err != nil {
		return err
	}
	if ev.Type != entry.TypeMapRoot {
		return fmt.Errorf("entry %d is not a map-root entry", mp.MapRootIndex)
	}
	_, err = vmap.VerifyCredentialStatus(ev.MapRoot, issuerName, id, state.StatusActive, mp.Value, mp.Proof)
	return err
}

// answer returns a probe's result: errBadAnswer for a 200 answer that is
// not ok.
func answer(status int, err error, ok bool) (int, error) {
	if err == nil && status == http.StatusOK && !ok {
		return status, errBadAnswer
	}
	return status, err
}

// bundleLen returns the number of entries in an entry bundle, or -1 if it
// is malformed.
func bundleLen(b []byte) int {
	n := 0
	for len(b) > 0 {
		if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
			return -1
		}
		b = b[2+int(binary.BigEndian.Uint16(b)):]
		n++
	}
	return n
}
