package witness

import (
	"math"
	"sync"
	"time"
)

// limiter is a per-log token bucket: each log may make perDay requests in a
// burst, and earns them back evenly over a day. It lives in memory, so a
// restart refills every bucket.
type limiter struct {
	perDay  float64 // 0: no limit
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(perDay int, now func() time.Time) *limiter {
	return &limiter{perDay: float64(perDay), now: now, buckets: map[string]*bucket{}}
}

// allow takes one token from origin's bucket. If there is none, it returns
// false and how long until there will be one, rounded up to a second.
func (l *limiter) allow(origin string) (bool, time.Duration) {
	if l.perDay <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[origin]
	if !ok {
		b = &bucket{tokens: l.perDay, last: now}
		l.buckets[origin] = b
	}
	perSecond := l.perDay / (24 * 60 * 60)
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.perDay, b.tokens+elapsed*perSecond)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := math.Ceil((1 - b.tokens) / perSecond)
	return false, time.Duration(wait) * time.Second
}
