package storage

import (
	"testing"
	"time"
)

// FuzzAppendTracesProto: for any input, if pdata accepts it the proto path
// appends the same rows and rejects; if pdata refuses it the proto path
// returns an error and leaves the rows as they were. Never panics. A small
// attribute limit makes rejects common.
func FuzzAppendTracesProto(f *testing.F) {
	for _, td := range traceCases() {
		f.Add(marshalTraces(f, td))
	}
	for _, b := range rawTraceCases() {
		f.Add(b)
	}
	prefill := marshalTraces(f, genTraces(100, 1, 2, baseTime, time.Second))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := diffTraces(b, prefill, RowLimits{MaxAttributeBytes: 16, MaxBodyBytes: 32}); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzAppendLogsProto is FuzzAppendTracesProto for logs.
func FuzzAppendLogsProto(f *testing.F) {
	for _, ld := range logCases() {
		f.Add(marshalLogs(f, ld))
	}
	for _, b := range rawLogCases() {
		f.Add(b)
	}
	prefill := marshalLogs(f, genLogs(100, 2, baseTime, time.Second))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := diffLogs(b, prefill, RowLimits{MaxAttributeBytes: 16, MaxBodyBytes: 32}); err != nil {
			t.Fatal(err)
		}
	})
}
