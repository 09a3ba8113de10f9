package storage

import (
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// namedParams builds server-side query parameters for {name:Type}
// placeholders from name, value pairs. The server parses each value as data of
// the declared type: nothing a user types can change the statement.
func namedParams(kv ...any) []any {
	if len(kv)%2 != 0 {
		panic("namedParams: odd number of arguments")
	}
	out := make([]any, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		name, ok := kv[i].(string)
		if !ok {
			panic(fmt.Sprintf("namedParams: name %v is not a string", kv[i]))
		}
		out = append(out, clickhouse.Named(name, kv[i+1]))
	}
	return out
}
