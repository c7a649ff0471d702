package sequencer_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/credlog/credlog/log/sequencer"
)

// BenchmarkAppendVerified measures the write path in process: events are
// signed beforehand; the timed part parses and verifies them in parallel
// (GOMAXPROCS workers), queues them in order, and waits until each is
// durable in SQLite. One op is one event; it also reports events/s.
func BenchmarkAppendVerified(b *testing.B) {
	e := newEnv(b)
	if r := e.submit(e.registration()); r.Err != nil {
		b.Fatal(r.Err)
	}
	raws := make([][]byte, b.N)
	for i := range raws {
		raws[i] = e.issue(i)
	}
	b.ResetTimer()
	workers := runtime.GOMAXPROCS(0)
	futures := make([]*sequencer.Future, len(raws))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(raws); i += workers {
				ev, err := sequencer.Parse(raws[i])
				if err == nil {
					err = e.l.Verify(ev)
				}
				for err == nil {
					futures[i], err = e.l.Add(ev)
					if errors.Is(err, sequencer.ErrOverloaded) {
						time.Sleep(time.Millisecond) // the queue is full: back off
						err = nil
						continue
					}
					break
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, f := range futures {
		if f == nil {
			b.FailNow()
		}
		if r := f.Wait(context.Background()); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
