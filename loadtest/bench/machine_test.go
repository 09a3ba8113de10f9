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

// The calibration must measure work, not be optimised away or be too short
// to time on a busy machine.
func TestCalibrateTakesMeasurableTime(t *testing.T) {
	if d := calibrate(); d < 5*time.Millisecond || d > 30*time.Second {
		t.Errorf("calibration took %v, want a workload of tens to hundreds of milliseconds", d)
	}
}
