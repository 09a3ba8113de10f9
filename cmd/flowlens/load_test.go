package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// loadFixture is a trace of n spans that started a minute ago.
func loadFixture(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "load-test")
	ss := rs.ScopeSpans().AppendEmpty()
	start := time.Now().Add(-time.Minute)
	for i := 0; i < n; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		sp.SetSpanID(pcommon.SpanID{0xcd, 0, 0, 0, 0, 0, 0, byte(i + 1)})
		sp.SetName("step")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i+1) * time.Millisecond)))
	}
	return td
}

// Loading a file again says that nothing new was stored, and a file whose
// records were stored from another file says they are now stored twice.
func TestLoadSaysWhatIsNew(t *testing.T) {
	c := newStorageCLI(t)
	dir := t.TempDir()
	td := loadFixture(7)
	asJSON := filepath.Join(dir, "trace.json")
	asProto := filepath.Join(dir, "trace.pb")
	js, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	pb, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	os.WriteFile(asJSON, js, 0o644)
	os.WriteFile(asProto, pb, 0o644)

	for _, step := range []struct{ file, want string }{
		{asJSON, asJSON + ": stored 7 spans"},
		{asJSON, asJSON + ": nothing new, its 7 spans were already stored"},
		{asProto, asProto + ": stored 7 spans; 7 of them were already stored and now twice"},
	} {
		if out := strings.TrimSpace(c.mustRun("load", step.file)); out != step.want {
			t.Errorf("load %s:\n got %q\nwant %q", filepath.Base(step.file), out, step.want)
		}
	}
	var res []loadResult
	if err := json.Unmarshal([]byte(c.mustRun("load", asJSON, "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Stored != 0 || res[0].AlreadyStored != 7 {
		t.Errorf("load -o json of a loaded file: %+v", res)
	}
}
