package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/keys"
)

// checkpointTimeout bounds how long write waits, after the last answer,
// for a checkpoint covering every acknowledged event.
const checkpointTimeout = 30 * time.Second

// writeConfig is a write run.
type writeConfig struct {
	URL         string
	KeyFile     string
	Seed        string
	First       int // number of the first event of the seed to submit
	Events      int
	Concurrency int
	Batch       int
	Rate        float64 // events/s for an open loop; 0 for a closed loop
	Wait        bool    // ?wait=checkpoint
	Poll        time.Duration
}

func writeCommand(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("credload write", flag.ContinueOnError)
	var c writeConfig
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "the log's `URL`")
	fs.StringVar(&c.KeyFile, "key", "", "the load issuer's signing key `file` (from credload keygen)")
	fs.StringVar(&c.Seed, "seed", "credload", "`seed` of the generated credential IDs and subject labels")
	fs.IntVar(&c.First, "first", 0, "`number` of the seed's first event to submit (to extend a log written with the same seed)")
	fs.IntVar(&c.Events, "events", 10000, "`number` of events to submit")
	fs.IntVar(&c.Concurrency, "concurrency", 4, "`number` of concurrent requests")
	fs.IntVar(&c.Batch, "batch", 100, "events per request: 1 for POST /events, more for POST /events/batch")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop at this many `events/s` (0: closed loop)")
	fs.BoolVar(&c.Wait, "wait", false, "wait for a checkpoint on each submission (?wait=checkpoint)")
	fs.DurationVar(&c.Poll, "poll", 5*time.Millisecond, "poll /checkpoint this often to time checkpoints (0: don't)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case c.KeyFile == "":
		return usagef("-key is required")
	case c.Events < 1 || c.Concurrency < 1 || c.Batch < 1 || c.First < 0 || c.Rate < 0 || c.Poll < 0:
		return usagef("-events, -concurrency and -batch must be positive; -first, -rate and -poll not negative")
	}
	r, err := runWrite(ctx, c, logger)
	if err != nil {
		return err
	}
	return printReport(stdout, r, *asJSON)
}

// writeReport is the result of a write run.
type writeReport struct {
	Events         int     `json:"events"`
	Batch          int     `json:"batch"`
	Concurrency    int     `json:"concurrency"`
	Loop           string  `json:"loop"` // "closed" or "open"
	Rate           float64 `json:"rate,omitempty"`
	Wait           bool    `json:"wait"`
	SigningSeconds float64 `json:"signing_seconds"`
	WallSeconds    float64 `json:"wall_seconds"`
	Requests       int     `json:"requests"` // prepared; SubmitLatency.Count were sent
	// Acknowledged counts the events answered with an index, including
	// duplicates and, in Unpublished, those logged without a checkpoint
	// in time for a synchronous answer.
	Acknowledged      int            `json:"acknowledged"`
	Duplicates        int            `json:"duplicates"`
	Unpublished       int            `json:"unpublished,omitempty"`
	EventsPerSecond   float64        `json:"events_per_second"`
	RequestsPerSecond float64        `json:"requests_per_second"`
	SubmitLatency     latency        `json:"submit_latency"`
	CheckpointLatency *latency       `json:"checkpoint_latency,omitempty"`
	Uncovered         int            `json:"uncovered,omitempty"` // acknowledged, no covering checkpoint seen
	Errors            map[string]int `json:"errors"`              // failed events by status
	SizeBefore        uint64         `json:"size_before"`
	SizeAfter         uint64         `json:"size_after"`
	Server            serverUse      `json:"server"`
	Machine           machine        `json:"machine"`

	indices []uint64 // of the new (non-duplicate) events
}

// outcome is the answer to one request.
type outcome struct {
	start   time.Time // when it was due (open loop) or sent (closed loop)
	latency time.Duration
	status  int // HTTP status, 0 if no answer
	n       int // events in the request
	results []api.SubmitResult
}

// runWrite signs the events, submits them and reports.
func runWrite(ctx context.Context, c writeConfig, logger *slog.Logger) (*writeReport, error) {
	r := &writeReport{Events: c.Events, Batch: c.Batch, Concurrency: c.Concurrency, Loop: "closed",
		Rate: c.Rate, Wait: c.Wait, Errors: map[string]int{}, Machine: machine{CPUs: runtime.NumCPU()}}
	if c.Rate > 0 {
		r.Loop = "open"
	}
	reqs, err := prepare(c, r, logger)
	if err != nil {
		return nil, err
	}
	t := newTarget(c.URL, c.Concurrency+2, false)
	defer t.close()
	var buf bytes.Buffer
	if r.SizeBefore, err = t.checkpointSize(ctx, &buf); err != nil {
		return nil, err
	}
	r.Machine.LoadAvgStart = loadAverage()
	logger.Info("submitting", "requests", len(reqs), "batch", c.Batch, "concurrency", c.Concurrency, "loop", r.Loop, "size", r.SizeBefore)
	cpu0 := cpuTime()
	use := startSampler(ctx, t)
	var poller *checkpointPoller
	if c.Poll > 0 {
		poller = startPoller(ctx, t, c.Poll)
	}
	begin := time.Now()
	outcomes := submitAll(ctx, t, c, reqs, begin)
	r.WallSeconds = time.Since(begin).Seconds()
	r.Machine.LoadAvgEnd = loadAverage()
	r.Server = use.stop(ctx)
	r.Machine.ClientCPUSeconds = (cpuTime() - cpu0).Seconds()
	maxIndex := r.tallyAll(outcomes)
	if poller != nil {
		if len(r.indices) > 0 && !poller.waitFor(ctx, maxIndex+1, checkpointTimeout) {
			logger.Warn("no checkpoint covers every acknowledged event", "waited", checkpointTimeout)
		}
		r.CheckpointLatency, r.Uncovered = checkpointLatency(outcomes, poller.stop())
	}
	if r.SizeAfter, err = t.checkpointSize(ctx, &buf); err != nil {
		logger.Warn("couldn't read the final checkpoint", "err", err)
	}
	return r, nil
}

// prepare reads the issuer's key, signs the events and builds the
// requests, timing it in r.SigningSeconds.
func prepare(c writeConfig, r *writeReport, logger *slog.Logger) ([]request, error) {
	text, err := keys.ReadPrivateFile(c.KeyFile)
	if err != nil {
		return nil, err
	}
	signer, err := keys.ParseSigner(text)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse %s: %w", c.KeyFile, err)
	}
	logger.Info("signing events", "events", c.Events, "issuer", signer.Name(), "seed", c.Seed, "first", c.First)
	t0 := time.Now()
	events, err := signEvents(signer, c.Seed, c.First, c.Events)
	if err != nil {
		return nil, err
	}
	reqs := buildRequests(events, c.Batch)
	r.SigningSeconds = time.Since(t0).Seconds()
	r.Requests = len(reqs)
	return reqs, nil
}

// submitAll sends every request from c.Concurrency workers, each sending
// its next request when the last is answered (closed loop) or when it is
// due (open loop), and returns the answers in request order.
func submitAll(ctx context.Context, t *target, c writeConfig, reqs []request, begin time.Time) []outcome {
	path := "/events/batch"
	if c.Batch == 1 {
		path = "/events"
	}
	if c.Wait {
		path += "?wait=checkpoint"
	}
	outcomes := make([]outcome, len(reqs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c.Concurrency, len(reqs)) {
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				k := int(next.Add(1) - 1)
				if k >= len(reqs) || ctx.Err() != nil {
					return
				}
				start := time.Now()
				if c.Rate > 0 {
					start = begin.Add(time.Duration(float64(reqs[k].first) / c.Rate * float64(time.Second)))
					if !sleepUntil(ctx, start) {
						return
					}
				}
				o := &outcomes[k]
				o.status, o.results = submit(ctx, t, path, c.Batch == 1, reqs[k], &buf)
				o.start, o.latency, o.n = start, time.Since(start), reqs[k].n
			}
		})
	}
	wg.Wait()
	return outcomes
}

// sleepUntil sleeps until t, and reports false if ctx was done first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// submit sends one request and returns its status and, for an answer
// with indices, one result per event; a result of a single submission
// carries the HTTP status, 200 or 202.
func submit(ctx context.Context, t *target, path string, single bool, req request, buf *bytes.Buffer) (int, []api.SubmitResult) {
	status, err := t.do(ctx, path, req.body, buf)
	if err != nil || (status != http.StatusOK && status != http.StatusAccepted) {
		return status, nil
	}
	if single {
		var res api.SubmitResult
		if json.Unmarshal(buf.Bytes(), &res) != nil {
			return status, nil
		}
		res.Status = status
		return status, []api.SubmitResult{res}
	}
	var br api.BatchResult
	if json.Unmarshal(buf.Bytes(), &br) != nil || len(br.Results) != req.n {
		return status, nil
	}
	return status, br.Results
}

// tallyAll counts the answers in the report and returns the largest
// index of a new event.
func (r *writeReport) tallyAll(outcomes []outcome) uint64 {
	var lat []time.Duration
	var maxIndex uint64
	for _, o := range outcomes {
		if o.n == 0 {
			continue // never sent: the run was interrupted
		}
		lat = append(lat, o.latency)
		r.tally(o, &maxIndex)
	}
	r.SubmitLatency = summarize(lat)
	r.EventsPerSecond = float64(r.Acknowledged) / r.WallSeconds
	r.RequestsPerSecond = float64(len(lat)) / r.WallSeconds
	return maxIndex
}

// tally counts one request's events in the report.
func (r *writeReport) tally(o outcome, maxIndex *uint64) {
	if o.results == nil {
		key := statusKey(o.status)
		if o.status == http.StatusOK || o.status == http.StatusAccepted {
			key = "bad answer"
		}
		r.Errors[key] += o.n
		return
	}
	for _, res := range o.results {
		switch res.Status {
		case 0, http.StatusOK, http.StatusAccepted:
		default:
			r.Errors[statusKey(res.Status)]++
			continue
		}
		r.Acknowledged++
		if res.Status == http.StatusAccepted {
			r.Unpublished++
		}
		if res.Duplicate {
			r.Duplicates++
			continue
		}
		r.indices = append(r.indices, res.Index)
		*maxIndex = max(*maxIndex, res.Index)
	}
}

// checkpointLatency returns, over the new events acknowledged, the time
// from their request's start to the first sighting of a checkpoint that
// covers them, and how many no sighting covers.
func checkpointLatency(outcomes []outcome, seen []sighting) (*latency, int) {
	var ds []time.Duration
	uncovered := 0
	for _, o := range outcomes {
		for _, res := range o.results {
			if (res.Status != 0 && res.Status/100 != 2) || res.Duplicate {
				continue
			}
			at, ok := covering(seen, res.Index)
			if !ok {
				uncovered++
				continue
			}
			ds = append(ds, max(0, at.Sub(o.start)))
		}
	}
	l := summarize(ds)
	return &l, uncovered
}
