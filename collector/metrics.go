package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/component"
)

// metrics of the collector, all prefixed flowlens_collector_.
type metrics struct {
	messages      *prometheus.CounterVec   // topic
	messagesDLQ   *prometheus.CounterVec   // topic, reason
	rowsConsumed  *prometheus.CounterVec   // kind
	rowsStored    *prometheus.CounterVec   // kind
	rowsDLQ       *prometheus.CounterVec   // kind, reason
	batchRows     *prometheus.HistogramVec // kind
	batchLatency  *prometheus.HistogramVec // kind: insert time incl. retries
	batchAge      *prometheus.HistogramVec // kind: first message fetched -> committed
	retries       *prometheus.CounterVec   // what: insert, commit, dead_letter
	lag           *prometheus.GaugeVec     // topic, partition
	partitions    prometheus.Gauge
	bufferedBytes prometheus.Gauge
	storageUp     prometheus.Gauge
	storageFull   prometheus.Gauge
	rebalances    prometheus.Counter
	pending       *prometheus.CounterVec // outcome: rebuilt, already_stored
	batchParts    prometheus.Histogram

	ledgerMissing *prometheus.GaugeVec   // host
	ledgerExtra   *prometheus.GaugeVec   // host
	ledgerChecks  *prometheus.CounterVec // outcome
	ledgerChecked prometheus.Gauge
	ledgerErrors  prometheus.Counter
}

// latencyBuckets resolve the collector's share of freshness (about 0.1-3 s)
// to within 25%: coarser buckets hid whether a p99 was 0.5 or 1.2 s. They
// reach 15.8 s so that a saturated pipeline's tail still has a figure.
var latencyBuckets = prometheus.ExponentialBuckets(0.01, 1.25, 34)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "flowlens", "collector"
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_consumed_total", Help: "Kafka messages read, by topic."}, []string{"topic"}),
		messagesDLQ: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_dead_lettered_total", Help: "Messages sent to the dead-letter topic, by source topic and reason."}, []string{"topic", "reason"}),
		rowsConsumed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rows_consumed_total", Help: "Spans or log records decoded from Kafka."}, []string{"kind"}),
		rowsStored: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rows_stored_total", Help: "Rows inserted into storage (a re-delivered batch counts again; the engine stores it once)."}, []string{"kind"}),
		rowsDLQ: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rows_dead_lettered_total", Help: "Spans or log records that could not be stored and went to the dead-letter topic."}, []string{"kind", "reason"}),
		batchRows: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "batch_rows", Help: "Rows per insert.", Buckets: prometheus.ExponentialBuckets(10, 4, 8)}, []string{"kind"}),
		batchLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "batch_insert_seconds", Help: "Time to store one batch, retries included.", Buckets: latencyBuckets}, []string{"kind"}),
		batchAge: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "batch_commit_delay_seconds", Help: "From the first message of a batch fetched to its offsets committed.", Buckets: latencyBuckets}, []string{"kind"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "retries_total", Help: "Retried operations, by what failed: insert, commit, dead_letter."}, []string{"what"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "consumer_lag", Help: "Messages behind the partition's end, as of the last fetch."}, []string{"topic", "partition"}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "assigned_partitions", Help: "Partitions this collector consumes now."}),
		bufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "buffered_bytes", Help: "Message bytes held in batches not yet stored."}),
		storageUp: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "storage_up", Help: "1 if the last insert succeeded, 0 while inserts fail."}),
		storageFull: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "storage_disk_full", Help: "1 while the engine refuses inserts for lack of disk space (ClickHouse code 243): they are retried, nothing is dropped or committed."}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "generations_total", Help: "Consumer group generations joined (rebalances)."}),
		pending: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "pending_batches_total", Help: "Batches a previous owner of a partition left pending (stored or not, not committed), by outcome: rebuilt and stored again under their token, or found committed on another of their partitions."}, []string{"outcome"}),
		batchParts: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "batch_partitions", Help: "Partitions per insert.", Buckets: prometheus.ExponentialBuckets(1, 2, 8)}),
		ledgerMissing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "ledger",
			Name: "missing_records", Help: "Records a host's agent accepted that were neither stored nor dead-lettered nor dropped by the agent, in the intervals closed within ledger.window (flowlens ledger)."}, []string{"host"}),
		ledgerExtra: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "ledger",
			Name: "extra_records", Help: "Records stored beyond what a host's agent reported accepting, in the intervals closed within ledger.window: sent twice after an agent crash, or its last counts lost."}, []string{"host"}),
		ledgerChecks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "ledger",
			Name: "checks_total", Help: "Reconciliations of the ledger, by outcome (ok, error)."}, []string{"outcome"}),
		ledgerChecked: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: "ledger",
			Name: "last_check_timestamp_seconds", Help: "When the ledger was last reconciled."}),
		ledgerErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "ledger_insert_errors_total", Help: "Batches whose ledger counts could not be stored (a permanent storage error); the ledger shows their records as missing."}),
	}
	m.storageUp.Set(1)
	if err := component.Register(reg, "collector", m.messages, m.messagesDLQ, m.rowsConsumed, m.rowsStored, m.rowsDLQ, m.batchRows,
		m.batchLatency, m.batchAge, m.retries, m.lag, m.partitions, m.bufferedBytes, m.storageUp, m.storageFull, m.rebalances, m.pending, m.batchParts,
		m.ledgerMissing, m.ledgerExtra, m.ledgerChecks, m.ledgerChecked, m.ledgerErrors); err != nil {
		return nil, err
	}
	return m, nil
}
