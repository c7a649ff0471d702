package witness

import "github.com/prometheus/client_golang/prometheus"

// metrics are the witness's Prometheus metrics, all prefixed credwitness_.
type metrics struct {
	requests     *prometheus.CounterVec   // by endpoint and status code
	duration     *prometheus.HistogramVec // by endpoint
	cosignatures *prometheus.CounterVec   // by origin
	evidence     *prometheus.CounterVec   // by origin
	rateLimited  *prometheus.CounterVec   // by origin
	latestSize   *prometheus.GaugeVec     // by origin
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credwitness_http_requests_total",
			Help: "HTTP requests, by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "credwitness_http_request_duration_seconds",
			Help:    "HTTP request latency, by endpoint.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"endpoint"}),
		cosignatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credwitness_cosignatures_total",
			Help: "Checkpoints cosigned, by log origin.",
		}, []string{"origin"}),
		evidence: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credwitness_equivocations_total",
			Help: "New pieces of equivocation evidence stored, by log origin.",
		}, []string{"origin"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credwitness_rate_limited_total",
			Help: "add-checkpoint requests refused by the per-log rate limit, by log origin.",
		}, []string{"origin"}),
		latestSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "credwitness_latest_size",
			Help: "Size of the latest checkpoint cosigned, by log origin.",
		}, []string{"origin"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.cosignatures, m.evidence, m.rateLimited, m.latestSize)
	}
	return m
}
