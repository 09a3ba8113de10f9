package bench

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// EngineStats is what the engine did during the window, from the
// difference of two system.events snapshots. Merged rows against inserted
// rows is the merges' write amplification; merge wall time is how long
// merges ran beside the inserts. The wall times overlap (merges run beside
// inserts) and include waiting for a core.
type EngineStats struct {
	Inserts, InsertedRows uint64
	Merges, MergedRows    uint64
	Selects               uint64
	CPUSeconds            float64 // every engine thread: queries and merges
	InsertWall, MergeWall float64 // seconds, summed over concurrent ones
	SelectWall            float64
}

// engineEvents is the engine's profile event counters by name.
func engineEvents(ctx context.Context, conn driver.Conn) (map[string]uint64, error) {
	rows, err := conn.Query(ctx, "SELECT event, value FROM system.events")
	if err != nil {
		return nil, fmt.Errorf("read system.events: %w", err)
	}
	defer rows.Close()
	ev := make(map[string]uint64)
	for rows.Next() {
		var name string
		var v uint64
		if err := rows.Scan(&name, &v); err != nil {
			return nil, fmt.Errorf("read system.events: %w", err)
		}
		ev[name] = v
	}
	return ev, rows.Err()
}

func engineStats(before, after map[string]uint64) EngineStats {
	d := func(name string) uint64 { return after[name] - before[name] }
	return EngineStats{
		Inserts: d("InsertQuery"), InsertedRows: d("InsertedRows"),
		Merges: d("Merge"), MergedRows: d("MergedRows"),
		Selects:    d("SelectQuery"),
		CPUSeconds: float64(d("OSCPUVirtualTimeMicroseconds")) / 1e6,
		InsertWall: float64(d("InsertQueryTimeMicroseconds")) / 1e6,
		MergeWall:  float64(d("MergeTotalMilliseconds")) / 1e3,
		SelectWall: float64(d("SelectQueryTimeMicroseconds")) / 1e6,
	}
}
