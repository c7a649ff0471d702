package sequencer

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the write path's Prometheus metrics, all prefixed credlog_.
type Metrics struct {
	queued        prometheus.Gauge
	overloads     prometheus.Counter
	submissions   *prometheus.CounterVec
	sequenced     prometheus.Counter
	batchSize     prometheus.Histogram
	batchSeconds  prometheus.Histogram
	commitSeconds prometheus.Histogram
	commitErrors  prometheus.Counter
	treeSize      prometheus.Gauge
	publishedSize prometheus.Gauge
	publishErrors prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg, if not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		queued:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "credlog_queue_events", Help: "Events waiting for the sequencer."}),
		overloads:   prometheus.NewCounter(prometheus.CounterOpts{Name: "credlog_overload_rejections_total", Help: "Events refused because the queue was full."}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credlog_sequencer_rejections_total", Help: "Events the sequencer did not append, by rule broken (or duplicate)."}, []string{"reason"}),
		sequenced:   prometheus.NewCounter(prometheus.CounterOpts{Name: "credlog_sequenced_entries_total", Help: "Entries durably appended."}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "credlog_batch_entries", Help: "Entries per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "credlog_batch_seconds", Help: "Time to sequence and commit a batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "credlog_commit_seconds", Help: "Time of the storage commit of a batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		commitErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "credlog_commit_errors_total", Help: "Batches that failed to commit."}),
		treeSize:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "credlog_tree_size", Help: "Durable tree size."}),
		publishedSize: prometheus.NewGauge(prometheus.GaugeOpts{Name: "credlog_published_tree_size", Help: "Tree size of the latest published checkpoint."}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "credlog_publish_errors_total", Help: "Failed checkpoint publications."}),
	}
	if reg != nil {
		reg.MustRegister(m.queued, m.overloads, m.submissions, m.sequenced, m.batchSize, m.batchSeconds,
			m.commitSeconds, m.commitErrors, m.treeSize, m.publishedSize, m.publishErrors)
	}
	return m
}
