package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"

	"github.com/flowlens/flowlens/internal/config"
)

// remoteQueryFunc evaluates instant queries on a Prometheus-compatible API
// (POST /api/v1/query), for when the flow metrics of several analyzers live
// in Prometheus, Mimir, Thanos or VictoriaMetrics.
func remoteQueryFunc(client *http.Client, base string) rules.QueryFunc {
	endpoint := strings.TrimRight(base, "/") + "/api/v1/query"
	return func(ctx context.Context, q string, t time.Time) (promql.Vector, error) {
		form := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, fmt.Errorf("remote query: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("remote query: %w", config.RedactURLError(err))
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		if err != nil {
			return nil, fmt.Errorf("remote query: read: %w", err)
		}
		var r struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				ResultType string          `json:"resultType"`
				Result     json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("remote query: %s: decode: %w", resp.Status, err)
		}
		if r.Status != "success" {
			return nil, fmt.Errorf("remote query: %s: %s", resp.Status, r.Error)
		}
		switch r.Data.ResultType {
		case "vector":
			var res []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			}
			if err := json.Unmarshal(r.Data.Result, &res); err != nil {
				return nil, fmt.Errorf("remote query: decode vector: %w", err)
			}
			out := make(promql.Vector, 0, len(res))
			for _, s := range res {
				ts, v, err := sampleValue(s.Value)
				if err != nil {
					return nil, err
				}
				out = append(out, promql.Sample{Metric: labels.FromMap(s.Metric), T: ts, F: v})
			}
			return out, nil
		case "scalar":
			var sv [2]any
			if err := json.Unmarshal(r.Data.Result, &sv); err != nil {
				return nil, fmt.Errorf("remote query: decode scalar: %w", err)
			}
			ts, v, err := sampleValue(sv)
			if err != nil {
				return nil, err
			}
			return promql.Vector{{Metric: labels.EmptyLabels(), T: ts, F: v}}, nil
		default:
			return nil, fmt.Errorf("remote query: result type %q is not a vector or scalar", r.Data.ResultType)
		}
	}
}

func sampleValue(p [2]any) (int64, float64, error) {
	ts, ok := p[0].(float64)
	s, ok2 := p[1].(string)
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("remote query: malformed sample %v", p)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("remote query: sample value %q: %w", s, err)
	}
	return int64(ts * 1000), v, nil
}
