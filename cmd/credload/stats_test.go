package main

import (
	"testing"
	"time"

	"github.com/credlog/credlog/api"
)

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got, want := summarize(ds), (latency{Count: 100, P50: 50, P99: 99, Max: 100}); got != want {
		t.Errorf("1..100ms: %+v, want %+v", got, want)
	}
	if got, want := summarize([]time.Duration{time.Millisecond}), (latency{Count: 1, P50: 1, P99: 1, Max: 1}); got != want {
		t.Errorf("one: %+v, want %+v", got, want)
	}
	if got := summarize(nil); got != (latency{}) {
		t.Errorf("none: %+v", got)
	}
}

func TestCovering(t *testing.T) {
	t0 := time.Now()
	seen := []sighting{{size: 1, at: t0}, {size: 10, at: t0.Add(time.Second)}, {size: 20, at: t0.Add(2 * time.Second)}}
	for index, want := range map[uint64]time.Duration{0: 0, 1: time.Second, 9: time.Second, 10: 2 * time.Second, 19: 2 * time.Second} {
		if at, ok := covering(seen, index); !ok || at.Sub(t0) != want {
			t.Errorf("index %d: %v %v, want +%v", index, at.Sub(t0), ok, want)
		}
	}
	if _, ok := covering(seen, 20); ok {
		t.Error("index 20 covered by a checkpoint of size 20")
	}
}

func TestBundleLen(t *testing.T) {
	var b []byte
	for range 3 {
		b = api.AppendBatch(b, []byte("entry"))
	}
	if n := bundleLen(b); n != 3 {
		t.Errorf("3 entries: %d", n)
	}
	if n := bundleLen(b[:len(b)-1]); n != -1 {
		t.Errorf("truncated: %d", n)
	}
	if n := bundleLen(append(b, 0)); n != -1 {
		t.Errorf("dangling byte: %d", n)
	}
}

func TestBuildRequests(t *testing.T) {
	events := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc")}
	if r := buildRequests(events, 1); len(r) != 3 || string(r[2].body) != "ccc" || r[2].first != 2 || r[2].n != 1 {
		t.Errorf("batch 1: %+v", r)
	}
	r := buildRequests(events, 2)
	if len(r) != 2 || r[0].n != 2 || r[1].first != 2 || r[1].n != 1 || bundleLen(r[0].body) != 2 || bundleLen(r[1].body) != 1 {
		t.Errorf("batch 2: %+v", r)
	}
}
