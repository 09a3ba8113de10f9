package storeload

import (
	"context"
	"path/filepath"
	"runtime"
	"time"

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
