package bench

import (
	"encoding/json"
	"os"
)

type truthCounts struct{ spans, logs uint64 }

func readTruth(path string) (truthCounts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return truthCounts{}, err
	}
	var t struct {
		Spans uint64 `json:"spans"`
		Logs  uint64 `json:"logs"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return truthCounts{}, err
	}
	return truthCounts{t.Spans, t.Logs}, nil
}
