package query

import (
	"context"
	"fmt"
	"time"

	"github.com/flowlens/flowlens/internal/flowmodel"
	"github.com/flowlens/flowlens/rules/suggest"
	"github.com/flowlens/flowlens/storage"
)

// DefaultSuggestHistory is the history rules are suggested from unless a
// request says otherwise.
const DefaultSuggestHistory = 7 * 24 * time.Hour

// topicsLookback is how much of the history's end the destinations of
// delivery rules are read from: spans are kept for less time than rollups,
// and topics rarely change.
const topicsLookback = 24 * time.Hour

// SuggestRequest asks for the rules the flows of [From, To) support.
type SuggestRequest struct {
	From, To time.Time
	Options  suggest.Options
}

// Validate says what the user must change.
func (r SuggestRequest) Validate() error {
	if err := CheckRange(r.From, r.To); err != nil {
		return err
	}
	w := r.Options.Window
	if w == 0 {
		w = suggest.DefaultWindow
	}
	if w < flowmodel.BucketWidth || w > time.Hour || w%flowmodel.BucketWidth != 0 {
		return fmt.Errorf("%w: window %s: want whole minutes from 1m to 1h", ErrBadRequest, w)
	}
	if n := r.To.Sub(r.From) / w; n < 2 || n > storage.MaxEdgeWindows {
		return fmt.Errorf("%w: %d windows of %s in the range: want 2 to %d", ErrBadRequest, n, w, storage.MaxEdgeWindows)
	}
	return nil
}

// SuggestRules drafts the rules the range's flows support (package
// suggest): one read of the rollups summed per window (with the latency
// quantiles computed in the engine), and the services' destinations from
// the spans of the range's last day.
func (r Reader) SuggestRules(ctx context.Context, req SuggestRequest) (suggest.Result, error) {
	if err := req.Validate(); err != nil {
		return suggest.Result{}, err
	}
	if req.Options.Window == 0 {
		req.Options.Window = suggest.DefaultWindow
	}
	windows, err := r.Store.EdgeWindows(ctx, req.From, req.To, req.Options.Window)
	if err != nil {
		return suggest.Result{}, fmt.Errorf("suggest rules: %w", err)
	}
	topics, err := r.Store.ServiceTopics(ctx, "", maxTime(req.From, req.To.Add(-topicsLookback)), req.To)
	if err != nil {
		return suggest.Result{}, fmt.Errorf("suggest rules: %w", err)
	}
	return suggest.Analyze(suggest.History{From: req.From, To: req.To, Windows: windows, Topics: topics}, req.Options), nil
}
