package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParsePressure(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     time.Duration
		wantErr  bool
	}{
		{name: "cpu", in: "some avg10=66.08 avg60=60.37 avg300=58.65 total=18724258424\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
			want: 18724258424 * time.Microsecond},
		{name: "some only (older kernels' cpu file)", in: "some avg10=3.78 avg60=3.46 avg300=3.45 total=1136528133\n",
			want: 1136528133 * time.Microsecond},
		{name: "no some line", in: "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", wantErr: true},
		{name: "no total", in: "some avg10=1.00\n", wantErr: true},
		{name: "bad total", in: "some avg10=1.00 total=-5\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePressure(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("total = %v, want %v", got, tc.want)
			}
		})
	}
}

// Calibrations are comparable between runs only if fixedWork does the
// same work every time, and all of it: its result (kept in calibrationSink
// so that the compiler cannot drop the work) is fixed by the workload. A
// changed workload changes it, and then calibrations from before and after
// the change must not be compared. How long it takes is
// BenchmarkFixedWork's business.
func TestFixedWorkIsTheSameWork(t *testing.T) {
	// the median of 2^20 xorshift numbers plus the distinct keys among
	// the lowest quarter
	const want uint64 = 9240355588107413992
	for range 2 {
		s0 := calibrationSink
		fixedWork()
		if got := calibrationSink - s0; got != want {
			t.Fatalf("fixedWork gave %d, want %d: the calibration workload changed", got, want)
		}
	}
}

func BenchmarkFixedWork(b *testing.B) {
	for b.Loop() {
		fixedWork()
	}
}
