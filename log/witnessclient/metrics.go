package witnessclient

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the witness client's Prometheus metrics, all prefixed
// credlog_witness_. The witness label is the witness's name in the policy.
type Metrics struct {
	size     *prometheus.GaugeVec
	lag      *prometheus.GaugeVec
	errors   *prometheus.CounterVec
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	rounds   *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg, if not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "credlog_witness_cosigned_size",
			Help: "Tree size each witness last cosigned, as far as the log knows (from cosignatures and 409 replies).",
		}, []string{"witness"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "credlog_witness_lag_entries",
			Help: "Size of the latest checkpoint sent to witnesses minus the size each witness last cosigned (negative: the witness is ahead).",
		}, []string{"witness"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credlog_witness_request_errors_total",
			Help: "Witness requests that did not yield a valid cosignature, by witness and kind.",
		}, []string{"witness", "kind"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credlog_witness_requests_total",
			Help: "add-checkpoint requests answered, by witness and HTTP status code.",
		}, []string{"witness", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "credlog_witness_request_seconds",
			Help:    "add-checkpoint request latency, by witness.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"witness"}),
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credlog_witness_rounds_total",
			Help: "Checkpoints sent to the witnesses, by result: quorum, no_quorum (held back) or fail_open (published without quorum).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.size, m.lag, m.errors, m.requests, m.seconds, m.rounds)
	}
	return m
}
