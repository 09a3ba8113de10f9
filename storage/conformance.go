package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LogFieldCounts are the log records of one service over a range, and how
// many of them carry each field of the logging policy that a stored
// record still shows (conformance/policy). Whether a record had its own
// timestamp does not: the collector stores the time it was observed
// instead, as the OpenTelemetry exporter does.
type LogFieldCounts struct {
	// Service is the record's service.name ("" when it had none).
	Service string `json:"service"`
	Records uint64 `json:"records"`
	// ServiceName counts records with a service.name, Instance those whose
	// resource has one of the instance attributes, Severity those with a
	// severity number or text, TraceID those with a trace ID.
	ServiceName, Instance, Severity, TraceID uint64
}

// MaxInstanceKeys bounds the instance attributes LogFieldCounts looks for.
const MaxInstanceKeys = 16

// LogFieldCounts counts, per service, the log records over [from, to)
// and those carrying each field; a record carries an instance when its
// resource has one of instanceKeys, not empty. One scan of otel_logs'
// ServiceName, SeverityNumber, SeverityText, TraceId and ResourceAttributes.
func (s *Store) LogFieldCounts(ctx context.Context, from, to time.Time, instanceKeys []string) (_ []LogFieldCounts, err error) {
	defer func(start time.Time) { s.m.queryDone("log_fields", start, err) }(time.Now())
	if !to.After(from) {
		return nil, fmt.Errorf("log field counts: %w: empty time range %s - %s", ErrInvalidQuery, from, to)
	}
	if len(instanceKeys) == 0 || len(instanceKeys) > MaxInstanceKeys {
		return nil, fmt.Errorf("log field counts: %w: %d instance attributes (want 1 to %d)", ErrInvalidQuery, len(instanceKeys), MaxInstanceKeys)
	}
	args := namedParams("from", from.UnixNano(), "to", to.UnixNano())
	var instance []string
	for i, k := range instanceKeys {
		p := "k" + strconv.Itoa(i)
		instance = append(instance, "ResourceAttributes[{"+p+":String}] != ''")
		args = append(args, namedParams(p, k)...)
	}
	q := `SELECT ServiceName, count(), countIf(ServiceName != ''), countIf(` + strings.Join(instance, " OR ") + `),
    countIf(SeverityNumber > 0 OR SeverityText != ''), countIf(TraceId != '')
FROM ` + s.l.Name(LogsTable) + `
WHERE Timestamp >= fromUnixTimestamp64Nano({from:Int64}) AND Timestamp < fromUnixTimestamp64Nano({to:Int64})
GROUP BY ServiceName
ORDER BY ServiceName
LIMIT ` + strconv.Itoa(MaxNames)
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("log field counts: %w", err)
	}
	defer rows.Close()
	out := []LogFieldCounts{}
	for rows.Next() {
		var c LogFieldCounts
		if err := rows.Scan(&c.Service, &c.Records, &c.ServiceName, &c.Instance, &c.Severity, &c.TraceID); err != nil {
			return nil, fmt.Errorf("log field counts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
