package e2e

import "github.com/ClickHouse/clickhouse-go/v2"

// storageNamed binds {name:Type} parameters of a query.
func storageNamed(kv ...string) []any {
	var out []any
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, clickhouse.Named(kv[i], kv[i+1]))
	}
	return out
}
