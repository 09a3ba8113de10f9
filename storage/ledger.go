package storage

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// The loss ledger's tables (migration 10), written by the collector:
// LedgerReportsTable holds the agents' reports as they arrive (the latest
// Seq of each run wins), LedgerStoredTable what the collector stored and
// dead-lettered per host, interval and kind, one row per batch under the
// batch's deduplication token.
const (
	LedgerReportsTable = "flowlens_ledger_reports"
	LedgerStoredTable  = "flowlens_ledger_stored"
)

// LedgerReport is one agent run's counts for one interval and kind
// (kafkawire.LedgerReport, as stored).
type LedgerReport struct {
	Interval                 time.Time
	Seconds                  uint32
	Host, Kind, Run          string
	Accepted, Acked, Dropped uint64
	Seq                      uint64
}

// LedgerCount is what one batch of the collector stored and dead-lettered
// of one host's records accepted in one interval.
type LedgerCount struct {
	Interval             time.Time
	Host, Kind           string
	Stored, DeadLettered uint64
}

var (
	ledgerReportColumns = []string{"Interval", "Seconds", "Host", "Kind", "Run", "Accepted", "Acked", "Dropped", "Seq"}
	ledgerCountColumns  = []string{"Interval", "Host", "Kind", "Stored", "DeadLettered"}
)

// InsertLedgerReports stores agents' reports in one INSERT under dedupToken.
func (s *Store) InsertLedgerReports(ctx context.Context, rows []LedgerReport, dedupToken string) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	iv, secs := make([]time.Time, n), make([]uint32, n)
	host, kind, run := make([]string, n), make([]string, n), make([]string, n)
	acc, ack, drop, seq := make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	for i, r := range rows {
		iv[i], secs[i] = r.Interval.UTC(), r.Seconds
		host[i], kind[i], run[i] = r.Host, r.Kind, r.Run
		acc[i], ack[i], drop[i], seq[i] = r.Accepted, r.Acked, r.Dropped, r.Seq
	}
	if err := s.insertColumns(ctx, LedgerReportsTable, ledgerReportColumns,
		[]any{iv, secs, host, kind, run, acc, ack, drop, seq}, dedupToken, false); err != nil {
		return fmt.Errorf("insert %d ledger reports: %w", n, err)
	}
	return nil
}

// InsertLedgerCounts stores one batch's counts in one INSERT. The token is
// derived from the batch's own, so a batch stored again after a crash
// counts once, as its rows are stored once.
func (s *Store) InsertLedgerCounts(ctx context.Context, rows []LedgerCount, dedupToken string) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	iv, host, kind := make([]time.Time, n), make([]string, n), make([]string, n)
	stored, dl := make([]uint64, n), make([]uint64, n)
	for i, r := range rows {
		iv[i], host[i], kind[i], stored[i], dl[i] = r.Interval.UTC(), r.Host, r.Kind, r.Stored, r.DeadLettered
	}
	if err := s.insertColumns(ctx, LedgerStoredTable, ledgerCountColumns,
		[]any{iv, host, kind, stored, dl}, dedupToken, false); err != nil {
		return fmt.Errorf("insert %d ledger counts: %w", n, err)
	}
	return nil
}

// LedgerRow is one host's records of one kind accepted in one interval:
// what its agents reported (summed over their runs, each run's latest
// report) beside what the collectors stored and dead-lettered.
type LedgerRow struct {
	Interval time.Time
	// Seconds is the interval's length (0: no agent report arrived).
	Seconds                  uint32
	Host, Kind               string
	Accepted, Acked, Dropped uint64
	Stored, DeadLettered     uint64
	// Runs is the number of agent runs that reported the interval.
	Runs uint64
}

// MaxLedgerRows bounds the rows (host, interval, kind) Ledger returns.
const MaxLedgerRows = 100000

// Ledger reads the ledger of the intervals starting in [from, to), ordered
// by host, interval and kind; host, when set, keeps one host. More than
// MaxLedgerRows rows is an error that says to narrow the range.
func (s *Store) Ledger(ctx context.Context, from, to time.Time, host string) (_ []LedgerRow, err error) {
	defer func(start time.Time) { s.m.queryDone("ledger", start, err) }(time.Now())
	if !to.After(from) {
		return nil, fmt.Errorf("ledger: %w: empty time range %s - %s", ErrInvalidQuery, from, to)
	}
	where := "Interval >= toDateTime({from:Int64}, 'UTC') AND Interval < toDateTime({to:Int64}, 'UTC')"
	if host != "" {
		where += " AND Host = {host:String}"
	}
	q := `SELECT Interval, max(Seconds), Host, Kind, sum(Accepted), sum(Acked), sum(Dropped), sum(Stored), sum(DeadLettered), sum(Runs)
FROM (
    SELECT Interval, argMax(Seconds, Seq) AS Seconds, Host, Kind,
        argMax(Accepted, Seq) AS Accepted, argMax(Acked, Seq) AS Acked, argMax(Dropped, Seq) AS Dropped,
        toUInt64(0) AS Stored, toUInt64(0) AS DeadLettered, toUInt64(1) AS Runs
    FROM ` + s.l.Name(LedgerReportsTable) + `
    WHERE ` + where + `
    GROUP BY Interval, Host, Kind, Run
    UNION ALL
    SELECT Interval, toUInt32(0), Host, Kind, toUInt64(0), toUInt64(0), toUInt64(0), Stored, DeadLettered, toUInt64(0)
    FROM ` + s.l.Name(LedgerStoredTable) + `
    WHERE ` + where + `
)
GROUP BY Interval, Host, Kind
ORDER BY Host, Interval, Kind
LIMIT ` + strconv.Itoa(MaxLedgerRows+1)
	rows, err := s.conn.Query(ctx, q, namedParams("from", from.Unix(), "to", to.Unix(), "host", host)...)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	out := []LedgerRow{}
	for rows.Next() {
		var r LedgerRow
		if err := rows.Scan(&r.Interval, &r.Seconds, &r.Host, &r.Kind, &r.Accepted, &r.Acked, &r.Dropped,
			&r.Stored, &r.DeadLettered, &r.Runs); err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		r.Interval = r.Interval.UTC()
		if len(out) == MaxLedgerRows {
			return nil, fmt.Errorf("ledger: %w: more than %d host intervals from %s to %s; narrow the range or name a host",
				ErrInvalidQuery, MaxLedgerRows, from.Format(time.RFC3339), to.Format(time.RFC3339))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return out, nil
}
