package storage

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/flowlens/flowlens/internal/flowmodel"
)

// Sentinels for rejected records (see SpanRows.AppendTraces) and bad queries.
// Errors passed to a reject callback or returned by a search wrap one of these.
var (
	// ErrBadTimestamp: a zero timestamp, or one outside [MinTimestamp, MaxTimestamp].
	ErrBadTimestamp = errors.New("timestamp out of range")
	// ErrAttributeTooLarge: an attribute value or log body over Config.MaxAttributeBytes.
	ErrAttributeTooLarge = errors.New("attribute value too large")
	// ErrInvalidTraceID: not 32 hex digits, or all zeros.
	ErrInvalidTraceID = errors.New("invalid trace ID")
	// ErrInvalidQuery: a search filter that cannot be run (the message says
	// which). It is the flow model's sentinel, so the flow analyzer's API
	// tells a bad edge query apart without importing storage.
	ErrInvalidQuery = flowmodel.ErrInvalidQuery
	// ErrTraceNotFound: GetTrace found neither spans nor logs.
	ErrTraceNotFound = errors.New("trace not found")
)

// Retryable ClickHouse error codes: overload, timeouts, replicas and
// ZooKeeper trouble, memory limits, too many parts. Anything else the server
// answers (syntax, types, unknown table, ...) is permanent: re-sending the
// same batch fails the same way.
var retryableCodes = map[int32]bool{
	3:    true, // UNEXPECTED_END_OF_FILE
	159:  true, // TIMEOUT_EXCEEDED
	160:  true, // TOO_SLOW
	164:  true, // READONLY (replica lost ZooKeeper session)
	202:  true, // TOO_MANY_SIMULTANEOUS_QUERIES
	203:  true, // NO_FREE_CONNECTION
	209:  true, // SOCKET_TIMEOUT
	210:  true, // NETWORK_ERROR
	236:  true, // ABORTED
	241:  true, // MEMORY_LIMIT_EXCEEDED
	242:  true, // TABLE_IS_READ_ONLY
	243:  true, // NOT_ENOUGH_SPACE: the same batch fits once space is freed
	252:  true, // TOO_MANY_PARTS
	285:  true, // TOO_FEW_LIVE_REPLICAS
	319:  true, // UNKNOWN_STATUS_OF_INSERT
	394:  true, // QUERY_WAS_CANCELLED
	425:  true, // SYSTEM_ERROR
	999:  true, // KEEPER_EXCEPTION
	1000: true, // POCO_EXCEPTION
}

// codeNotEnoughSpace is ClickHouse's NOT_ENOUGH_SPACE: a disk has no room
// for the part an insert writes.
const codeNotEnoughSpace = 243

// IsDiskFull says whether err is the engine refusing a write for lack of
// disk space. It is retryable: the data must wait, not be dropped.
func IsDiskFull(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == codeNotEnoughSpace
}

// IsRetryable says whether sending the same request again may succeed:
// network failures, timeouts, HTTP 5xx without a permanent engine error, and
// engine overload. Syntax, type and schema errors are permanent. A canceled
// context is not retryable (the caller gave up).
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return retryableCodes[ex.Code]
	}
	var httpErr *clickhouse.HTTPError
	if errors.As(err, &httpErr) {
		// No parsable exception in the body: a proxy or an overloaded server.
		return httpErr.StatusCode >= 500 || httpErr.StatusCode == 429 || httpErr.StatusCode == 408
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}
