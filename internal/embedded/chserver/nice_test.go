package chserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/chtest"
	"github.com/flowlens/flowlens/internal/embedded/chserver"
)

// The engine's merges run at the configured nice value, below the inserts
// and queries that share the process.
func TestMergesRunNiced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := chtest.Database(t)
	conn := chtest.Open(t, db)
	if err := conn.Exec(ctx, "CREATE TABLE t (a UInt64, s String) ENGINE = MergeTree ORDER BY a"); err != nil {
		t.Fatal(err)
	}
	// Parts enough for the engine to merge them in the background.
	for i := 0; i < 8; i++ {
		if err := conn.Exec(ctx, "INSERT INTO t SELECT number, toString(rand()) FROM numbers(100000)"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		nices := threadNices(t, "MergeMutate")
		settled := len(nices) > 0
		for _, n := range nices {
			settled = settled && n == chserver.DefaultMergeNice
		}
		if settled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("merge threads' nice values %v, want all %d", nices, chserver.DefaultMergeNice)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// threadNices is the nice value of each thread of this process named name.
func threadNices(t *testing.T, name string) []int {
	t.Helper()
	var out []int
	for _, th := range chtest.Threads(t) {
		if th.Name == name {
			out = append(out, th.Nice)
		}
	}
	return out
}

func TestConfigMergeNice(t *testing.T) {
	for _, tc := range []struct {
		nice    int
		wantErr bool
	}{{0, false}, {10, false}, {19, false}, {-1, true}, {20, true}} {
		cfg := chserver.Config{DataDir: "x", MergeNice: &tc.nice}
		cfg.SetDefaults()
		err := cfg.Validate()
		if (err != nil) != tc.wantErr || (err != nil && !strings.Contains(err.Error(), "merge_nice")) {
			t.Errorf("merge_nice %d: error %v, want error: %v (naming merge_nice)", tc.nice, err, tc.wantErr)
		}
	}
	var unset chserver.Config
	unset.SetDefaults()
	if unset.MergeNice == nil || *unset.MergeNice != chserver.DefaultMergeNice {
		t.Errorf("default merge_nice = %v, want %d", unset.MergeNice, chserver.DefaultMergeNice)
	}
}
