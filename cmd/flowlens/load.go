package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowlens/flowlens/internal/chserver"
	"github.com/flowlens/flowlens/storage"
)

func newLoadCmd(g *globalFlags) *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "load FILE...",
		Short: "Store OTLP files of spans or logs (JSON or protobuf)",
		Long: `Store OTLP export requests read from files straight into ClickHouse.
Each file is OTLP JSON (one request, or one request per line as the OTel
Collector's file exporter writes) or one OTLP protobuf
ExportTraceServiceRequest / ExportLogsServiceRequest. Whether a file holds
traces or logs is detected ("-" reads standard input). Loading the same file
twice stores it once; each file's line says what was stored and what was
there already.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			if kind != "auto" && kind != "traces" && kind != "logs" {
				return fmt.Errorf("--type %q: want auto, traces or logs", kind)
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			st, closeStore, err := g.openStore(cmd.Context(), log, chserver.RoleWriter, true)
			if err != nil {
				return err
			}
			defer closeStore()
			var results []loadResult
			for _, path := range args {
				data, err := readInput(path, cmd.InOrStdin())
				if err != nil {
					return err
				}
				res, err := loadData(cmd, st, path, data, kind)
				if err != nil {
					return fmt.Errorf("load %s: %w", path, err)
				}
				results = append(results, res)
				if g.Output != "json" {
					fmt.Fprintln(cmd.OutOrStdout(), res.summary())
				}
			}
			if g.Output == "json" {
				return writeJSON(cmd.OutOrStdout(), results)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "type", "auto", "what the files hold: auto, traces or logs")
	return cmd
}

type loadResult struct {
	File string `json:"file"`
	Kind string `json:"kind"` // spans or logs
	// Stored is how many rows this load stored; AlreadyStored how many of
	// the file's records were stored before it (all of them on a second load
	// of a file, which stores nothing), StoredTwice how many of those it
	// stored again (a record also in another file).
	Stored        int `json:"stored"`
	AlreadyStored int `json:"already_stored"`
	StoredTwice   int `json:"stored_twice"`
	Rejected      int `json:"rejected"`
}

// summary is the result as a line: "f.json: stored 7 spans", "f.json:
// nothing new, its 7 spans were already stored".
func (r loadResult) summary() string {
	one := strings.TrimSuffix(r.Kind, "s")
	var s string
	switch {
	case r.Stored == 0 && r.AlreadyStored > 0:
		s = fmt.Sprintf("%s: nothing new, its %s already stored", r.File, count(r.AlreadyStored, one+" was", r.Kind+" were"))
	default:
		s = fmt.Sprintf("%s: stored %s", r.File, count(r.Stored, one, r.Kind))
		if more := r.AlreadyStored - r.StoredTwice; more > 0 {
			s += fmt.Sprintf(" (%s already stored)", count(more, "more was", "more were"))
		}
		if r.StoredTwice > 0 {
			s += fmt.Sprintf("; %s already stored and now twice", count(r.StoredTwice, "of them was", "of them were"))
		}
	}
	if r.Rejected > 0 {
		s += fmt.Sprintf(", rejected %d", r.Rejected)
	}
	return s
}

func readInput(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path)
}

// loadBatch is how many rows go into one INSERT.
const loadBatch = 50000

func loadData(cmd *cobra.Command, st *storage.Store, path string, data []byte, kind string) (loadResult, error) {
	res := loadResult{File: path}
	traces, logs, err := decodeOTLP(data, kind)
	if err != nil {
		return res, err
	}
	sum := sha256.Sum256(data)
	token := "flowlens-load-" + hex.EncodeToString(sum[:12])
	warn := func(reason error) {
		res.Rejected++
		if res.Rejected <= 10 {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: rejected: %v\n", path, reason)
		}
	}
	ctx := cmd.Context()
	chunk := 0
	if traces != nil {
		res.Kind = "spans"
		rows := &storage.SpanRows{Limits: st.RowLimits()}
		flush := func() error {
			if rows.Len() == 0 {
				return nil
			}
			chunk++
			err := insertCounted(ctx, st, storage.TracesTable, rows.Keys(), &res, func() error {
				return st.InsertSpans(ctx, rows, fmt.Sprintf("%s-%d", token, chunk))
			})
			rows.Reset()
			return err
		}
		for _, td := range traces {
			rows.AppendTraces(td, warn)
			if rows.Len() >= loadBatch {
				if err := flush(); err != nil {
					return res, err
				}
			}
		}
		return res, flush()
	}
	res.Kind = "logs"
	rows := &storage.LogRows{Limits: st.RowLimits()}
	flush := func() error {
		if rows.Len() == 0 {
			return nil
		}
		chunk++
		err := insertCounted(ctx, st, storage.LogsTable, rows.Keys(), &res, func() error {
			return st.InsertLogs(ctx, rows, fmt.Sprintf("%s-%d", token, chunk))
		})
		rows.Reset()
		return err
	}
	for _, ld := range logs {
		rows.AppendLogs(ld, warn)
		if rows.Len() >= loadBatch {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	return res, flush()
}

// insertCounted runs insert and adds to res what it stored and what of it
// was stored before, counted in the table before and after: the engine
// drops a chunk it already has (same dedup token) without saying so.
func insertCounted(ctx context.Context, st *storage.Store, table string, keys storage.RowKeys, res *loadResult, insert func() error) error {
	before, err := st.CountStored(ctx, table, keys)
	if err != nil {
		return err
	}
	if err := insert(); err != nil {
		return err
	}
	after, err := st.CountStored(ctx, table, keys)
	if err != nil {
		return err
	}
	stored := max(0, after.Rows-before.Rows)
	res.Stored += stored
	res.AlreadyStored += before.Keys
	res.StoredTwice += min(stored, before.Keys)
	return nil
}

// decodeOTLP reads OTLP JSON (one document or JSON lines) or protobuf, of
// traces or logs. kind is auto, traces or logs. Exactly one of the results
// is non-nil on success.
func decodeOTLP(data []byte, kind string) ([]ptrace.Traces, []plog.Logs, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, nil, errors.New("empty file")
	}
	if trimmed[0] == '{' {
		return decodeOTLPJSON(trimmed, kind)
	}
	return decodeOTLPProto(data, kind)
}

func decodeOTLPJSON(data []byte, kind string) ([]ptrace.Traces, []plog.Logs, error) {
	var docs [][]byte
	// One document, or one per line (the file exporter's format).
	if json.Valid(data) {
		docs = [][]byte{data}
	} else {
		for i, line := range bytes.Split(data, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			if !json.Valid(line) {
				return nil, nil, fmt.Errorf("line %d: not valid JSON", i+1)
			}
			docs = append(docs, line)
		}
	}
	var (
		traces []ptrace.Traces
		logs   []plog.Logs
	)
	for i, doc := range docs {
		k := kind
		if k == "auto" {
			var top map[string]json.RawMessage
			if err := json.Unmarshal(doc, &top); err != nil {
				return nil, nil, fmt.Errorf("document %d: %w", i+1, err)
			}
			_, hasSpans := top["resourceSpans"]
			_, hasLogs := top["resourceLogs"]
			switch {
			case hasSpans && !hasLogs:
				k = "traces"
			case hasLogs && !hasSpans:
				k = "logs"
			default:
				return nil, nil, fmt.Errorf("document %d: neither OTLP traces (resourceSpans) nor logs (resourceLogs)", i+1)
			}
		}
		if k == "traces" {
			td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(doc)
			if err != nil {
				return nil, nil, fmt.Errorf("document %d: OTLP JSON traces: %w", i+1, err)
			}
			traces = append(traces, td)
		} else {
			ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(doc)
			if err != nil {
				return nil, nil, fmt.Errorf("document %d: OTLP JSON logs: %w", i+1, err)
			}
			logs = append(logs, ld)
		}
	}
	if len(traces) > 0 && len(logs) > 0 {
		return nil, nil, errors.New("file mixes traces and logs; load them from separate files")
	}
	if traces != nil {
		return traces, nil, nil
	}
	return nil, logs, nil
}

// decodeOTLPProto tells traces from logs by decoding both ways: the field
// numbers overlap, but a request of the other kind either fails to decode
// (wire types differ) or decodes into records without IDs or timestamps.
func decodeOTLPProto(data []byte, kind string) ([]ptrace.Traces, []plog.Logs, error) {
	var (
		td         ptrace.Traces
		ld         plog.Logs
		tErr, lErr error
		tOK, lOK   bool
	)
	if kind != "logs" {
		td, tErr = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
		tOK = tErr == nil && td.SpanCount() > 0 && plausibleTraces(td)
		if kind == "traces" {
			if tErr != nil {
				return nil, nil, fmt.Errorf("OTLP protobuf traces: %w", tErr)
			}
			return []ptrace.Traces{td}, nil, nil
		}
	}
	ld, lErr = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(data)
	lOK = lErr == nil && ld.LogRecordCount() > 0 && plausibleLogs(ld)
	if kind == "logs" {
		if lErr != nil {
			return nil, nil, fmt.Errorf("OTLP protobuf logs: %w", lErr)
		}
		return nil, []plog.Logs{ld}, nil
	}
	switch {
	case tOK && !lOK:
		return []ptrace.Traces{td}, nil, nil
	case lOK && !tOK:
		return nil, []plog.Logs{ld}, nil
	case tOK && lOK:
		return nil, nil, errors.New("cannot tell whether the protobuf holds traces or logs; pass --type")
	}
	return nil, nil, fmt.Errorf("neither OTLP JSON nor OTLP protobuf traces or logs (as traces: %v; as logs: %v)",
		errOrEmpty(tErr), errOrEmpty(lErr))
}

func errOrEmpty(err error) string {
	if err == nil {
		return "no spans with IDs and start times"
	}
	return err.Error()
}

func plausibleTraces(td ptrace.Traces) bool {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		ss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < ss.Len(); j++ {
			spans := ss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				if sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() || sp.StartTimestamp() == 0 {
					return false
				}
			}
		}
	}
	return true
}

func plausibleLogs(ld plog.Logs) bool {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sl := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sl.Len(); j++ {
			recs := sl.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				r := recs.At(k)
				if r.Timestamp() == 0 && r.ObservedTimestamp() == 0 {
					return false
				}
			}
		}
	}
	return true
}
