package chserver

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/component"
)

// metrics about the endpoint itself, served on its own /metrics.
type metrics struct {
	requests *prometheus.CounterVec   // by kind: insert, query, ping
	errors   *prometheus.CounterVec   // by ClickHouse error code
	duration *prometheus.HistogramVec // by kind
	bodyIn   prometheus.Counter       // request body bytes (after decoding)
	bytesOut prometheus.Counter       // response bytes
	inFlight prometheus.Gauge
	sessions prometheus.Counter // engine sessions opened
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowlens_clickhouse_http_requests_total", Help: "Requests to the embedded ClickHouse HTTP endpoint, by kind (insert, query).",
		}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowlens_clickhouse_http_errors_total", Help: "Requests answered with a ClickHouse exception, by error code.",
		}, []string{"code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flowlens_clickhouse_http_request_duration_seconds", Help: "Time to answer a request, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"kind"}),
		bodyIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowlens_clickhouse_http_insert_bytes_total", Help: "Insert data received, after HTTP and block decompression.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowlens_clickhouse_http_response_bytes_total", Help: "Response bytes written (after compression).",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowlens_clickhouse_http_requests_in_flight", Help: "Requests being answered now.",
		}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowlens_clickhouse_engine_sessions_opened_total",
			Help: "Engine sessions opened for requests; a read's session serves the next request with the same database and settings.",
		}),
	}
	if err := component.Register(reg, "ClickHouse endpoint", m.requests, m.errors, m.duration, m.bodyIn, m.bytesOut, m.inFlight, m.sessions); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) observe(kind string, start time.Time, err error) {
	m.requests.WithLabelValues(kind).Inc()
	m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err != nil {
		m.errors.WithLabelValues(strconv.Itoa(toHTTPError(err).code)).Inc()
	}
}
