package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Migrate creates the database and applies every migration not yet recorded
// in flowlens_migrations. Applying it again is a no-op. It returns the
// versions it applied now.
//
// Concurrent Migrate calls from several processes are safe: every statement
// is IF NOT EXISTS and recording a version twice collapses (ReplacingMergeTree).
// Changing a TTL in the config after the tables exist does not alter them;
// use ALTER TABLE ... MODIFY TTL.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	boot, err := bootstrapStatements(s.cfg)
	if err != nil {
		return nil, err
	}
	for _, q := range boot {
		if err := s.conn.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("migrate: bootstrap %.60q: %w", q, err)
		}
	}
	applied, err := s.AppliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := s.withServerDefaults(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := Migrations(cfg)
	if err != nil {
		return nil, err
	}
	var done []int
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		for _, q := range m.Statements {
			if err := s.conn.Exec(ctx, q); err != nil {
				return done, fmt.Errorf("migrate: version %d (%s): %w", m.Version, m.Name, err)
			}
		}
		if err := s.backfillByDay(ctx, m.DailyBackfill); err != nil {
			return done, fmt.Errorf("migrate: version %d (%s): %w", m.Version, m.Name, err)
		}
		if err := s.conn.Exec(ctx,
			"INSERT INTO "+s.l.Local(MigrationsTable)+" (Version, Name) VALUES ({v:UInt32}, {n:String})",
			namedParams("v", m.Version, "n", m.Name)...); err != nil {
			return done, fmt.Errorf("migrate: record version %d: %w", m.Version, err)
		}
		s.logger.Info("applied schema migration", zap.Int("version", m.Version), zap.String("name", m.Name),
			zap.String("database", s.cfg.Database))
		done = append(done, m.Version)
	}
	return done, nil
}

// backfillByDay runs statements for each day that flow_edges holds rows
// of, newest first (see Migration.DailyBackfill).
func (s *Store) backfillByDay(ctx context.Context, statements []string) error {
	if len(statements) == 0 {
		return nil
	}
	var (
		rows        uint64
		first, last time.Time
	)
	if err := s.conn.QueryRow(ctx, "SELECT count(), min(Bucket), max(Bucket) FROM "+s.l.Name(EdgesTable)).Scan(&rows, &first, &last); err != nil {
		return fmt.Errorf("days of %s: %w", EdgesTable, err)
	}
	if rows == 0 {
		return nil
	}
	const day = 24 * time.Hour
	for d := last.UTC().Truncate(day); !d.Before(first.UTC().Truncate(day)); d = d.Add(-day) {
		for _, q := range statements {
			if err := s.conn.Exec(ctx, q, namedParams("day", d.Unix())...); err != nil {
				return fmt.Errorf("backfill %s: %w", d.Format(time.DateOnly), err)
			}
		}
	}
	return nil
}

// MigrateAs connects with cfg (a user that may change the schema), applies
// the migrations and disconnects: for a process whose parts then connect
// as a user that may only write.
func MigrateAs(ctx context.Context, cfg Config, logger *zap.Logger) error {
	st, err := Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	_, err = st.Migrate(ctx)
	return errors.Join(err, st.Close())
}

// DefaultMergeSelectorBase is merge_selector_base (ClickHouse: 5) of the
// tables Migrate creates, on servers that know the setting. A steady
// stream of one-second parts is what the engine's default merges hardest:
// in five minutes of 50k spans/s + 50k logs/s on two cores it rewrote
// every row 2.6 times, and two merges ran all the time beside the inserts.
// At 20 it rewrote each row 1.8 times, the engine used 7% less CPU, the
// pipeline kept up (48.3k spans/s stored against 43.4k) and freshness p50
// fell from 18 s to 4 s. The price is more active parts (25 against 7
// after that load): a lookup by trace ID took 23 ms against 18 ms.
const DefaultMergeSelectorBase = "20"

// serverDefaultSettings are MergeTree settings of the tables Migrate
// creates, on servers that know them (older servers have neither the
// setting nor what it avoids), unless MergeTreeSettings names them.
// Migration 12 gives them to tables created before.
var serverDefaultSettings = []struct{ name, value string }{
	{"merge_selector_base", DefaultMergeSelectorBase},
	// ClickHouse 26 writes a String column as two streams, the bytes and
	// a separate one of lengths (for reading length() alone, which no
	// flowlens query does): two files more per String column in every
	// part, 56 of the 260 files of a 50k-span part of otel_traces with
	// its projection. Creating files is most of the engine's kernel time
	// at insert, and a merge reads and writes every stream: with one
	// stream the engine spent about a tenth less CPU per span (insert
	// 0.96 against 1.05 CPU-s per 100k spans, a merge level 0.87 against
	// 1.00; storage/README.md). One stream is every earlier version's
	// layout.
	{"string_serialization_version", "'single_stream'"},
}

// withServerDefaults is the config with the defaults that depend on what
// the server supports filled in, for the tables created now. Settings the
// config names are kept as they are.
func (s *Store) withServerDefaults(ctx context.Context) (Config, error) {
	rows, err := s.conn.Query(ctx, "SELECT name FROM system.merge_tree_settings")
	if err != nil {
		return s.cfg, fmt.Errorf("migrate: read the server's MergeTree settings: %w", err)
	}
	defer rows.Close()
	known := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return s.cfg, fmt.Errorf("migrate: read the server's MergeTree settings: %w", err)
		}
		known[name] = true
	}
	if err := rows.Err(); err != nil {
		return s.cfg, fmt.Errorf("migrate: read the server's MergeTree settings: %w", err)
	}
	return withDefaultSettings(s.cfg, known), nil
}

// withDefaultSettings is cfg with the serverDefaultSettings that known
// (the server's MergeTree settings) has and cfg does not name.
func withDefaultSettings(cfg Config, known map[string]bool) Config {
	settings := make(map[string]string, len(cfg.MergeTreeSettings)+len(serverDefaultSettings))
	for k, v := range cfg.MergeTreeSettings {
		settings[k] = v
	}
	for _, d := range serverDefaultSettings {
		if _, set := settings[d.name]; !set && known[d.name] {
			settings[d.name] = d.value
		}
	}
	cfg.MergeTreeSettings = settings
	return cfg
}

// AppliedMigrations returns the versions recorded as applied.
func (s *Store) AppliedMigrations(ctx context.Context) (map[int]bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT Version FROM "+s.l.Local(MigrationsTable))
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
		out[int(v)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	return out, nil
}

// DatabaseExists says whether the configured database exists on the server.
func (s *Store) DatabaseExists(ctx context.Context) (bool, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = {db:String}",
		namedParams("db", s.cfg.Database)...).Scan(&n); err != nil {
		return false, fmt.Errorf("look up database %s: %w", s.cfg.Database, err)
	}
	return n > 0, nil
}

// PendingMigrations returns the migrations this version of flowlens knows
// that the database has not recorded, oldest first: what Migrate would apply.
// A database without the migrations table has them all pending.
func (s *Store) PendingMigrations(ctx context.Context) ([]Migration, error) {
	var tables uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
		namedParams("db", s.cfg.Database, "t", unquoteIdent(s.l.Local(MigrationsTable)[len(s.l.DB)+1:]))...).Scan(&tables); err != nil {
		return nil, fmt.Errorf("look up the migrations table: %w", err)
	}
	applied := map[int]bool{}
	if tables > 0 {
		var err error
		if applied, err = s.AppliedMigrations(ctx); err != nil {
			return nil, err
		}
	}
	ms, err := Migrations(s.cfg)
	if err != nil {
		return nil, err
	}
	var pending []Migration
	for _, m := range ms {
		if !applied[m.Version] {
			pending = append(pending, m)
		}
	}
	return pending, nil
}
