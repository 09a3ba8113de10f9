// Package storetest gives tests and benchmarks a flowlens store on the
// real embedded engine (internal/chtest): a database of their own, opened
// as the admin with the schema applied. A package that uses it cleans up
// the engine in TestMain, as chtest says.
package storetest

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/storage"
)

// Config is the storage config of a fresh database on the test engine, as
// the admin (who may create tables), defaults applied.
func Config(t testing.TB) storage.Config {
	t.Helper()
	cfg := storage.Config{Addr: chtest.Addr(t), Database: chtest.Database(t)}
	cfg.Username, cfg.Password = chtest.Admin(t)
	cfg.SetDefaults()
	return cfg
}

// Migrated opens a fresh database of the test engine as the admin and
// applies the schema; the store closes when the test ends.
func Migrated(t testing.TB) *storage.Store {
	t.Helper()
	return Open(t, Config(t))
}

// Open opens cfg's database and applies the schema; the store closes when
// the test ends.
func Open(t testing.TB, cfg storage.Config) *storage.Store {
	t.Helper()
	cfg.SetDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := storage.Open(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}
