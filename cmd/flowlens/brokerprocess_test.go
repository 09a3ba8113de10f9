package main

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

var brokerStarted = regexp.MustCompile(`embedded kafka broker process started\s+\{"pid": (\d+)`)

// The embedded broker of `flowlens up` runs in a child process: when it
// dies (a crash in kfake is a Go panic no caller can recover), flowlens up
// and its engine live on, the broker is started again on the same address,
// and spans sent afterwards are stored.
func TestUpSurvivesABrokerCrash(t *testing.T) {
	data := t.TempDir()
	args := []string{"up", "--demo=false", "--log-level", "info", "--data-dir", data}
	for _, f := range upListenFlags {
		args = append(args, "--"+f, "127.0.0.1:0")
	}
	p := startFlowlens(t, args...)
	addrs := p.waitOutput(t, regexp.MustCompile(`ClickHouse HTTP\s+http://(\S+)[\s\S]*OTLP \(agent\)\s+grpc \S+\s+http (\S+)`))
	chAddr, otlpHTTP := addrs[1], addrs[2]

	first := waitBrokerStarts(t, p, 1)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the broker process %d: %v", first, err)
	}
	if second := waitBrokerStarts(t, p, 2); second == first {
		t.Fatalf("the broker was not started again")
	}
	select {
	case err := <-p.done:
		t.Fatalf("flowlens up ended with its broker (%v)\n%s", err, p.errOut.String())
	default:
	}

	trace := postTraceSpan(t, otlpHTTP)
	deadline := time.Now().Add(time.Minute)
	for {
		out, stderr, code := runFlowlens(t, nil, "trace", trace, "--data-dir", data, "--clickhouse", chAddr, "--log-level", "error")
		if code == 0 && strings.Contains(out, "after-the-crash") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the span sent after the broker crash is not stored: %d\n%s\n%s", code, out, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.stop(t)
}

// waitBrokerStarts waits until the broker process was started n times and
// returns the pid of the last start.
func waitBrokerStarts(t *testing.T, p *flowlensProc, n int) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if m := brokerStarted.FindAllStringSubmatch(p.errOut.String(), -1); len(m) >= n {
			pid, _ := strconv.Atoi(m[n-1][1])
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker process was not started %d times:\n%s", n, p.errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// postTraceSpan sends one span named after-the-crash to an OTLP/HTTP
// receiver and returns its trace ID.
func postTraceSpan(t *testing.T, addr string) string {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	tid := pcommon.TraceID{0xc7, 0xa5, 0x11}
	s.SetTraceID(tid)
	s.SetSpanID(pcommon.SpanID{1})
	s.SetName("after-the-crash")
	now := time.Now()
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	pb, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	resp, err := http.Post("http://"+addr+"/v1/traces", "application/x-protobuf", bytes.NewReader(pb))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the agent answered %d", resp.StatusCode)
	}
	return hex.EncodeToString(tid[:])
}
