package storage

import (
	"context"
	"fmt"

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
	ms, err := Migrations(s.cfg)
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
