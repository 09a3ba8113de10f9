// Package query answers what every reader of flowlens asks of the stored
// data and the running parts: the flow graph of a time range (a service's
// neighbourhood, live breaker states, the edges of firing alerts), per-edge
// series, messaging destinations' delivery, one trace, trace and log search, and the rules evaluator's
// alerts. The Grafana plugin turns the answers into data frames, the
// console into JSON and the CLI into text: one package answers, so the
// three never disagree.
//
// Answers are plain Go values. Every value a user gives reaches ClickHouse
// as a bound parameter (package storage); a request the user must change is
// an error that wraps ErrBadRequest.
package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/flowlens/flowlens/flowgraph/api"
	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/rules/alertapi"
	"github.com/flowlens/flowlens/storage"
)

var (
	// ErrBadRequest marks a request the user must change.
	ErrBadRequest = errors.New("bad request")
	// ErrNoAlerts is an alerts question without an alerts source configured.
	ErrNoAlerts = errors.New("no alerts API configured")
)

// BreakerSource gives every circuit breaker's live state: the flow
// analyzer's API (AnalyzerAPI) or the analyzer in this process.
type BreakerSource interface {
	Breakers(ctx context.Context) ([]api.Breaker, error)
}

// AlertSource gives the rules evaluator's pending, firing and recently
// resolved alerts: its API (AlertsAPI) or the evaluator in this process.
type AlertSource interface {
	Alerts(ctx context.Context) ([]alertapi.Alert, error)
}

// RuleSource lists the rules that run (every one, quiet ones too): the
// rules evaluator's API (AlertsAPI) or the evaluator in this process.
// An AlertSource that is one too tells which rules watch an edge.
type RuleSource interface {
	Rules(ctx context.Context) ([]alertapi.Rule, error)
}

// Reader answers the questions. Store is required; Breakers and Alerts are
// optional, and a graph without them says what it lacks. A Reader is a
// value: build one per call when the store is opened lazily.
type Reader struct {
	Store    *storage.Store
	Breakers BreakerSource
	Alerts   AlertSource
}

// MaxDepth bounds GraphRequest.Depth.
const MaxDepth = 20

// CheckRange refuses an empty or reversed range.
func CheckRange(from, to time.Time) error {
	if !to.After(from) {
		return fmt.Errorf("%w: empty time range %s - %s", ErrBadRequest, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return nil
}

// CheckConnectionType refuses a connection type that is not one of
// flowmodel.ConnectionFilters.
func CheckConnectionType(c string) error {
	if c != "" && !slices.Contains(flowmodel.ConnectionFilters, c) {
		return fmt.Errorf("%w: connection type %q: want one of %s", ErrBadRequest, c, strings.Join(flowmodel.ConnectionFilters, ", "))
	}
	return nil
}

// CheckLimit refuses a search limit storage would refuse (0 is its default).
func CheckLimit(n int) error {
	if n < 0 || n > storage.MaxSearchLimit {
		return fmt.Errorf("%w: limit %d: want 1 to %d", ErrBadRequest, n, storage.MaxSearchLimit)
	}
	return nil
}

// Duration reads a duration bound a user typed (250ms, 1.5s); empty is 0.
// name says which bound, for the error.
func Duration(name, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: %s %q: want a duration like 250ms or 1.5s", ErrBadRequest, name, s)
	}
	return d, nil
}

// IsBadRequest says whether err is the user's to fix: a bad request, an
// invalid query or trace ID.
func IsBadRequest(err error) bool {
	return errors.Is(err, ErrBadRequest) || errors.Is(err, storage.ErrInvalidQuery) || errors.Is(err, storage.ErrInvalidTraceID) ||
		errors.Is(err, ErrNoAlerts)
}

// Round rounds v to digits decimals: figures for people and for stable
// comparisons, not for further arithmetic.
func Round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
