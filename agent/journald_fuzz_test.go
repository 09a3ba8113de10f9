package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.uber.org/zap"

	"github.com/flowlens/flowlens/agent/journald"
	"github.com/flowlens/flowlens/agent/logrec"
)

// FuzzJournaldEntry: whatever journalctl exports, the records hold valid
// UTF-8 only (protobuf strings must) and the batch is a request pdata
// reads.
func FuzzJournaldEntry(f *testing.F) {
	f.Add([]byte("__CURSOR=c\nMESSAGE=hi\nPRIORITY=3\n_PID=1\nTRACE_ID=0af7651916cd43dd8448eb211c80319c\n\n"))
	f.Add([]byte("__CURSOR=c\nMESSAGE\n\x03\x00\x00\x00\x00\x00\x00\x00\xff\xfe\x00\n_SYSTEMD_UNIT=a.service\n\n"))
	f.Add([]byte("__CURSOR=c\n\xff=v\nPRIORITY=99\n_SOURCE_REALTIME_TIMESTAMP=99999999999999999999\n\n"))
	cfg := benchConfig(f, "journald: {}\n")
	f.Fuzz(func(t *testing.T, in []byte) {
		var sink memAppender
		src, err := newJournaldSource(cfg.Journald, &cfg, &sink, "", zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		d := journald.NewDecoder(bytes.NewReader(in), 4096)
		var e journald.Entry
		for d.Next(&e) == nil {
			if err := src.Entry(context.Background(), &e, []byte("c")); err != nil {
				t.Fatal(err)
			}
			r := &src.rec
			for _, b := range append([][]byte{r.Body, r.Service, r.SeverityText}, attrBytes(r)...) {
				if !utf8.Valid(b) {
					t.Fatalf("invalid UTF-8 %q from %q", b, in)
				}
			}
		}
		if err := src.Idle(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, rec := range sink.recs {
			// the buffer record: kind, uvarint count, key length 0, request
			_, n := binary.Uvarint(rec[1:])
			req := plogotlp.NewExportRequest()
			if err := req.UnmarshalProto(rec[1+n+1:]); err != nil {
				t.Fatalf("batch does not decode: %v", err)
			}
		}
	})
}

func attrBytes(r *logrec.Record) [][]byte {
	var out [][]byte
	for _, kv := range r.Attrs {
		out = append(out, kv.Key, kv.Str)
	}
	return out
}
