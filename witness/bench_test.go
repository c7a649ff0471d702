package witness_test

import (
	"bytes"
	"net/http"
	"sort"
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
