package query

import (
	"context"
	"fmt"
	"time"

	"github.com/flowlens/flowlens/ledger"
	"github.com/flowlens/flowlens/storage"
)

// LedgerRequest asks for the loss ledger of the intervals starting in
// [From, To), judged at Now (zero: the current time): an interval is
// closed once its end plus Grace has passed (ledger.DefaultGrace is what
// the collector uses). Host keeps one host.
type LedgerRequest struct {
	From, To time.Time
	Now      time.Time
	Host     string
	Grace    time.Duration
}

// Ledger is the loss ledger per host (`flowlens ledger`, /api/v1/ledger).
func (r Reader) Ledger(ctx context.Context, req LedgerRequest) (ledger.Report, error) {
	if err := CheckRange(req.From, req.To); err != nil {
		return ledger.Report{}, err
	}
	if len(req.Host) > storage.MaxFilterBytes {
		return ledger.Report{}, fmt.Errorf("%w: host name of %d bytes (limit %d)", ErrBadRequest, len(req.Host), storage.MaxFilterBytes)
	}
	if req.Grace < 0 {
		return ledger.Report{}, fmt.Errorf("%w: grace %s: must not be negative", ErrBadRequest, req.Grace)
	}
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	return ledger.Read(ctx, r.Store, req.From, req.To, req.Now, req.Host, req.Grace)
}
