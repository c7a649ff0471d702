package main

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"time"
)

// sighting is the first time a checkpoint size was seen.
type sighting struct {
	size uint64
	at   time.Time
}

// checkpointPoller polls /checkpoint and records when each size is first
// seen: the time the answer arrived, which is later than the publication
// by up to the poll interval plus one request's latency.
type checkpointPoller struct {
	t        *target
	interval time.Duration

	mu      sync.Mutex
	seen    []sighting // sizes increasing
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// startPoller starts polling every interval.
func startPoller(ctx context.Context, t *target, interval time.Duration) *checkpointPoller {
	ctx, cancel := context.WithCancel(ctx)
	p := &checkpointPoller{t: t, interval: interval, changed: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go p.run(ctx)
	return p
}

func (p *checkpointPoller) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	var buf bytes.Buffer
	for {
		size, err := p.t.checkpointSize(ctx, &buf)
		now := time.Now()
		if err == nil {
			p.mu.Lock()
			if n := len(p.seen); n == 0 || size > p.seen[n-1].size {
				p.seen = append(p.seen, sighting{size: size, at: now})
				close(p.changed)
				p.changed = make(chan struct{})
			}
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// waitFor waits until a checkpoint of at least size entries is seen, or
// until ctx is done or timeout passes, and reports whether it was seen.
func (p *checkpointPoller) waitFor(ctx context.Context, size uint64, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok := len(p.seen) > 0 && p.seen[len(p.seen)-1].size >= size
		ch := p.changed
		p.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		}
	}
}

// stop stops polling and returns the sightings.
func (p *checkpointPoller) stop() []sighting {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// covering returns when a checkpoint covering index was first seen.
func covering(seen []sighting, index uint64) (time.Time, bool) {
	i := sort.Search(len(seen), func(i int) bool { return seen[i].size > index })
	if i == len(seen) {
		return time.Time{}, false
	}
	return seen[i].at, true
}
