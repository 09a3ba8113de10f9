package storeload

import (
	"context"
	"path/filepath"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/flowlens/flowlens/storage"
)

// Shop is the stored shop the readers' tests (the Grafana plugin, the
// console) are held to: a minute of the shop at 20 requests/s, seed 11,
// with the standard fault schedule (loadtest/testdata/faults.yaml: the
// orders queue drops messages, checkout's breaker towards payments is
// forced open, inventory slows, catalog fails), starting 20 minutes ago.
// From and To hold the whole run.
type Shop struct {
	*Result
	From, To time.Time
}

// LoadShop stores the Shop into st (migrated).
func LoadShop(ctx context.Context, st *storage.Store) (*Shop, error) {
	_, here, _, _ := runtime.Caller(0)
	start := time.Now().UTC().Add(-20 * time.Minute)
	res, err := Load(ctx, st, Options{Rate: 20, Duration: time.Minute, Seed: 11, Start: start,
		Faults: filepath.Join(filepath.Dir(here), "..", "testdata", "faults.yaml")})
	if err != nil {
		return nil, err
	}
	return &Shop{Result: res, From: start.Add(-10 * time.Minute), To: time.Now().UTC()}, nil
}

// StoreShop opens cfg's database as a user who may create tables, applies
// the schema and stores the Shop in it: the fixture the readers' tests
// share. The store stays open for the caller.
func StoreShop(ctx context.Context, cfg storage.Config) (*storage.Store, *Shop, error) {
	st, err := OpenMigrated(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	shop, err := LoadShop(ctx, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, shop, nil
}

// OpenMigrated opens cfg's database as a user who may create tables and
// applies the schema, for a test or benchmark to Load a system into.
func OpenMigrated(ctx context.Context, cfg storage.Config) (*storage.Store, error) {
	cfg.SetDefaults()
	st, err := storage.Open(ctx, cfg, zap.NewNop())
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}
