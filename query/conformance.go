package query

import (
	"context"
	"fmt"

	"github.com/flowlens/flowlens/conformance"
	"github.com/flowlens/flowlens/storage"
)

// Conformance answers how well each service follows the logging policy
// over the request's window (package conformance).
func (r Reader) Conformance(ctx context.Context, req conformance.Request) (conformance.Report, error) {
	if err := CheckRange(req.From, req.To); err != nil {
		return conformance.Report{}, err
	}
	if req.Target < 0 || req.Target > 1 {
		return conformance.Report{}, fmt.Errorf("%w: target %g: want a share above 0 and at most 1", ErrBadRequest, req.Target)
	}
	if len(req.Service) > storage.MaxFilterBytes {
		return conformance.Report{}, fmt.Errorf("%w: service name of %d bytes (limit %d)", ErrBadRequest, len(req.Service), storage.MaxFilterBytes)
	}
	return conformance.Read(ctx, r.Store, req)
}
