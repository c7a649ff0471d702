package witness_test

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/credlog/credlog/witness"
)

// BenchmarkAddCheckpoint measures add-checkpoint over loopback HTTP with
// a real, durable SQLite database: each request grows the tree by one leaf
// with a real consistency proof. It reports p50 and p99 latencies.
func BenchmarkAddCheckpoint(b *testing.B) {
	e := newEnv(b, witness.Options{})
	l := newTestLog(b, "example.com/log")
	e.addLog(l)
	l.growTo(uint64(b.N) + 1000)
	e.mustCosign(l.request(0, 1000))
	reqs := make([][]byte, b.N)
	for i := range reqs {
		reqs[i] = l.request(uint64(1000+i), uint64(1001+i))
	}
	client := &http.Client{}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		resp, err := client.Post(e.srv.URL+"/add-checkpoint", "", bytes.NewReader(reqs[i]))
		if err != nil {
			b.Fatal(err)
		}
		r := readResponse(b, resp)
		if r.code != http.StatusOK {
			b.Fatalf("%d %s", r.code, r.body)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkAddCheckpointOpenLoop offers add-checkpoint requests at a fixed
// rate (1,000 requests/s, spread over 10 logs, each log's requests in
// order) for b.N requests, and reports the latency percentiles measured
// from each request's scheduled time, so that a slow answer also delays
// what queues behind it. Run with -benchtime=5000x for five seconds.
func BenchmarkAddCheckpointOpenLoop(b *testing.B) {
	const logs, rate = 10, 1000
	e := newEnv(b, witness.Options{})
	per := b.N/logs + 1
	reqs := make([][][]byte, logs)
	for k := range logs {
		l := newTestLog(b, fmt.Sprintf("example.com/log%d", k))
		e.addLog(l)
		l.growTo(uint64(per) + 1000)
		e.mustCosign(l.request(0, 1000))
		for i := range per {
			reqs[k] = append(reqs[k], l.request(uint64(1000+i), uint64(1001+i)))
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	lat := make([][]time.Duration, logs)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	interval := time.Second * logs / rate // between two requests of one log
	for k := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per && k+i*logs < b.N; i++ {
				due := start.Add(time.Duration(i)*interval + time.Duration(k)*time.Second/rate)
				time.Sleep(time.Until(due))
				resp, err := client.Post(e.srv.URL+"/add-checkpoint", "", bytes.NewReader(reqs[k][i]))
				if err != nil {
					b.Error(err)
					return
				}
				if r := readResponse(b, resp); r.code != http.StatusOK {
					b.Errorf("%d %s", r.code, r.body)
					return
				}
				lat[k] = append(lat[k], time.Since(due))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "req/s")
}
