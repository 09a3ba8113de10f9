package rollup

import (
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestTicksAlignToInterval(t *testing.T) {
	f := New(Config{Instance: "x", Interval: time.Minute, Offset: 12 * time.Second}, nil, nil, zap.NewNop(), nil)
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ now, next string }{
		{"10:00:00", "10:00:12"},
		{"10:00:11", "10:00:12"},
		{"10:00:12", "10:01:12"},
		{"10:00:59", "10:01:12"},
	} {
		now, _ := time.Parse("15:04:05", tc.now)
		want, _ := time.Parse("15:04:05", tc.next)
		now = base.Add(now.Sub(now.Truncate(24 * time.Hour)))
		want = base.Add(want.Sub(want.Truncate(24 * time.Hour)))
		if got := now.Add(f.untilNextTick(now)); !got.Equal(want) {
			t.Errorf("at %s: next tick %s, want %s", tc.now, got.Format("15:04:05"), tc.next)
		}
	}
}
