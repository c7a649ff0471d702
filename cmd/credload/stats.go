package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// latency summarizes a set of latencies, in milliseconds.
type latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// summarize returns the nearest-rank percentiles of ds, which it sorts.
func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	slices.Sort(ds)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ms(ds[max(0, i)])
	}
	return latency{Count: len(ds), P50: rank(0.50), P99: rank(0.99), Max: ms(ds[len(ds)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// serverUse is the server's resource use during a run, sampled from its
// /metrics every second. Samples is 0 when /metrics could not be read.
type serverUse struct {
	RSSStart   int64   `json:"rss_start_bytes"`
	RSSEnd     int64   `json:"rss_end_bytes"`
	RSSMax     int64   `json:"rss_max_bytes"`
	CPUSeconds float64 `json:"cpu_seconds"` // CPU time used between the first and last samples
	Samples    int     `json:"samples"`
}

// sampler samples the server's resource use every second until stopped.
type sampler struct {
	t        *target
	mu       sync.Mutex
	u        serverUse
	cpuStart float64
	cancel   context.CancelFunc
	done     chan struct{}
}

// startSampler takes a first sample and starts sampling every second.
func startSampler(ctx context.Context, t *target) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{t: t, cancel: cancel, done: make(chan struct{})}
	var buf bytes.Buffer
	s.sample(ctx, &buf)
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s.sample(ctx, &buf)
			}
		}
	}()
	return s
}

func (s *sampler) sample(ctx context.Context, buf *bytes.Buffer) {
	p, err := s.t.serverProcess(ctx, buf)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.u.Samples == 0 {
		s.u.RSSStart, s.cpuStart = p.rss, p.cpu
	}
	s.u.RSSEnd, s.u.RSSMax = p.rss, max(s.u.RSSMax, p.rss)
	s.u.CPUSeconds = p.cpu - s.cpuStart
	s.u.Samples++
}

// stop stops sampling, takes a last sample and returns the summary.
func (s *sampler) stop(ctx context.Context) serverUse {
	s.cancel()
	<-s.done
	var buf bytes.Buffer
	s.sample(ctx, &buf)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.u
}

// loadAverage returns the machine's 1, 5 and 15 minute load averages from
// /proc/loadavg, or "" where there is none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// machine describes where a run ran: the generator shares it with the
// log, and perhaps with others.
type machine struct {
	CPUs         int    `json:"cpus"`
	LoadAvgStart string `json:"loadavg_start,omitempty"`
	LoadAvgEnd   string `json:"loadavg_end,omitempty"`
	// ClientCPUSeconds is the CPU time credload used during the timed
	// part of the run (not signing).
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
}
