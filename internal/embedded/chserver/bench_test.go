package chserver_test

import (
	"context"
	"testing"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

// BenchmarkSmallSelect is a small query through the endpoint as the reader
// (clickhouse-go over HTTP): what logging in, the guard and the engine's
// formatting of the statement add to a lookup is the difference to main.
func BenchmarkSmallSelect(b *testing.B) {
	conn := chtest.OpenAs(b, chserver.RoleReader, "default")
	ctx := context.Background()
	var n uint64
	for b.Loop() {
		if err := conn.QueryRow(ctx, "SELECT count() FROM numbers(10) WHERE number > ?", 3).Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
}
