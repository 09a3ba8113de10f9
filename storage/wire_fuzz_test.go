package storage

import (
	"math/rand/v2"
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

// mutate returns b with one random byte changed, removed or inserted.
func mutate(rng *rand.Rand, b []byte) []byte {
	m := append([]byte(nil), b...)
	i := rng.IntN(len(m))
	switch rng.IntN(4) {
	case 0:
		m[i] ^= byte(1 << rng.IntN(8))
	case 1:
		m[i] = byte(rng.IntN(256))
	case 2:
		m = append(m[:i], m[i+1:]...)
	default:
		m = append(m[:i], append([]byte{byte(rng.IntN(256))}, m[i:]...)...)
	}
	return m
}

// TestAppendProtoMutations is a deterministic slice of the fuzz tests, run
// with every go test: thousands of one-byte mutations of valid requests.
func TestAppendProtoMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lim := RowLimits{MaxAttributeBytes: 16, MaxBodyBytes: 32}
	traces := [][]byte{
		marshalTraces(t, genTraces(1, 2, 2, baseTime, time.Second)),
		marshalTraces(t, traceCases()["events and links"]),
		marshalTraces(t, traceCases()["rejects"]),
	}
	for i := 0; i < 3000; i++ {
		b := mutate(rng, traces[i%len(traces)])
		if err := diffTraces(b, nil, lim); err != nil {
			t.Fatalf("traces %x: %v", b, err)
		}
	}
	logs := [][]byte{
		marshalLogs(t, logCases()["every field"]),
		marshalLogs(t, logCases()["rejects"]),
	}
	for i := 0; i < 3000; i++ {
		b := mutate(rng, logs[i%len(logs)])
		if err := diffLogs(b, nil, lim); err != nil {
			t.Fatalf("logs %x: %v", b, err)
		}
	}
}
