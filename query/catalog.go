package query

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flowlens/flowlens/catalog"
	"github.com/flowlens/flowlens/storage"
)

// CatalogRequest asks for the service catalog of [From, To) and, with a
// baseline window, what changed since it.
type CatalogRequest struct {
	From, To time.Time
	// Service keeps one service ("" every one).
	Service string
	// BaselineFrom and BaselineTo, when set, are the window compared with.
	BaselineFrom, BaselineTo time.Time
}

// Validate says what the user must change.
func (r CatalogRequest) Validate() error {
	if err := CheckRange(r.From, r.To); err != nil {
		return err
	}
	if len(r.Service) > storage.MaxFilterBytes {
		return fmt.Errorf("%w: service name of %d bytes (limit %d)", ErrBadRequest, len(r.Service), storage.MaxFilterBytes)
	}
	if r.BaselineFrom.IsZero() != r.BaselineTo.IsZero() {
		return fmt.Errorf("%w: give both ends of the baseline window, or neither", ErrBadRequest)
	}
	if !r.BaselineFrom.IsZero() {
		return CheckRange(r.BaselineFrom, r.BaselineTo)
	}
	return nil
}

// CatalogAnswer is the catalog of a window, and its changes since the
// baseline window when one was asked for.
type CatalogAnswer struct {
	catalog.Catalog
	Baseline *Window          `json:"baseline,omitempty"`
	Changes  []catalog.Change `json:"changes,omitempty"`
}

// Window is a time range.
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Catalog answers a CatalogRequest (package catalog); both windows are
// read in parallel.
func (r Reader) Catalog(ctx context.Context, req CatalogRequest) (CatalogAnswer, error) {
	if err := req.Validate(); err != nil {
		return CatalogAnswer{}, err
	}
	var (
		ans  CatalogAnswer
		base catalog.Catalog
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		ans.Catalog, err = catalog.Read(gctx, r.Store, catalog.Request{From: req.From, To: req.To, Service: req.Service})
		return err
	})
	if !req.BaselineFrom.IsZero() {
		ans.Baseline = &Window{From: req.BaselineFrom, To: req.BaselineTo}
		g.Go(func() (err error) {
			base, err = catalog.Read(gctx, r.Store, catalog.Request{From: req.BaselineFrom, To: req.BaselineTo, Service: req.Service})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return CatalogAnswer{}, err
	}
	if ans.Baseline != nil {
		ans.Changes = catalog.Changes(base, ans.Catalog)
		if ans.Changes == nil {
			ans.Changes = []catalog.Change{}
		}
	}
	return ans, nil
}
