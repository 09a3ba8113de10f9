package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/internal/embedded/chserver"
	"github.com/flowlens/flowlens/internal/otlpfile"
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
			switch otlpfile.Kind(kind) {
			case otlpfile.Auto, otlpfile.Traces, otlpfile.Logs:
			default:
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
				res, err := loadData(cmd, st, path, data, otlpfile.Kind(kind))
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

func loadData(cmd *cobra.Command, st *storage.Store, path string, data []byte, kind otlpfile.Kind) (loadResult, error) {
	res := loadResult{File: path}
	reqs, err := otlpfile.Decode(data, kind)
	if errors.Is(err, otlpfile.ErrAmbiguous) {
		return res, fmt.Errorf("%w; pass --type", err)
	}
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
	if reqs.Traces != nil {
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
		for _, td := range reqs.Traces {
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
	for _, ld := range reqs.Logs {
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
