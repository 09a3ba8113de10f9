package chserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// reframeNative rewrites the engine's Native output (the revision-0 layout)
// into the layout of a client speaking protocol revision rev: block info before
// each block and a has_custom byte after each column type. The blocks are
// decoded and encoded again with clickhouse-go's own column codecs, so every
// type the client can read survives exactly.
func reframeNative(dst *chproto.Buffer, src []byte, rev uint64, tz *time.Location) error {
	r := chproto.NewReader(bytes.NewReader(src))
	ctx := column.ServerContext{Revision: rev, VersionMajor: 26, VersionMinor: 5, Timezone: tz}
	for n := 0; ; n++ {
		block := proto.Block{ServerContext: &ctx}
		if err := block.Decode(r, 0); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("re-encode Native block %d: %w", n, err)
		}
		if err := block.Encode(dst, rev); err != nil {
			return fmt.Errorf("re-encode Native block %d: %w", n, err)
		}
	}
}
