package storage

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Store's own: rows and batches written, errors by kind,
// and latency of writes and reads. Recorded always, exported by
// RegisterMetrics.
type metrics struct {
	insertRows     *prometheus.CounterVec
	insertErrors   *prometheus.CounterVec
	insertDuration *prometheus.HistogramVec
	queryDuration  *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		insertRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowlens_storage_insert_rows_total",
			Help: "Rows written to ClickHouse, by table.",
		}, []string{"table"}),
		insertErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowlens_storage_insert_errors_total",
			Help: "Failed batch inserts, by table and whether the error is retryable.",
		}, []string{"table", "retryable"}),
		insertDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flowlens_storage_insert_duration_seconds",
			Help:    "Time to send one batch insert, by table.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"table"}),
		queryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flowlens_storage_query_duration_seconds",
			Help:    "Time of a read, by kind (trace, spans, logs, edges) and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"kind", "outcome"}),
	}
}

// RegisterMetrics exports the Store's metrics to reg.
func (s *Store) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.m.insertRows, s.m.insertErrors, s.m.insertDuration, s.m.queryDuration} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				continue
			}
			return err
		}
	}
	return nil
}

func (m *metrics) insertDone(table string, rows int, start time.Time, err error) {
	if err != nil {
		m.insertErrors.WithLabelValues(table, strconv.FormatBool(IsRetryable(err))).Inc()
		return
	}
	m.insertRows.WithLabelValues(table).Add(float64(rows))
	m.insertDuration.WithLabelValues(table).Observe(time.Since(start).Seconds())
}

func (m *metrics) queryDone(kind string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.queryDuration.WithLabelValues(kind, outcome).Observe(time.Since(start).Seconds())
}
