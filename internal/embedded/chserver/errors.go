package chserver

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/flowlens/flowlens/internal/embedded/chdb"
)

// httpError is an answer with a ClickHouse exception body.
type httpError struct {
	status int
	code   int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(msg string) *httpError {
	return &httpError{status: http.StatusBadRequest, code: 36, msg: "Code: 36. DB::Exception: " + msg + ". (BAD_ARGUMENTS)"}
}

// statusForCode maps engine error codes to HTTP statuses the way ClickHouse's
// HTTP handler does, for the codes that matter to clients.
func statusForCode(code int) int {
	switch code {
	case 194: // REQUIRED_PASSWORD
		return http.StatusUnauthorized
	case 192, 193, 195, 516: // UNKNOWN_USER, WRONG_PASSWORD, IP_ADDRESS_NOT_ALLOWED, AUTHENTICATION_FAILED
		return http.StatusForbidden
	case 497, 164, 392, 358: // ACCESS_DENIED, READONLY, QUERY_IS_PROHIBITED, INTO_OUTFILE_NOT_ALLOWED
		return http.StatusForbidden
	case 6, 25, 26, 27, 38, 41, 62, 72, 117, 53, 36, 42, 43, 456, 457, 167, 168, 169, 44, 452: // parse / syntax / bad arguments / AST limits / setting constraints
		return http.StatusBadRequest
	case 60, 46, 47, 50, 56, 81, 115, 73, 64, 16: // UNKNOWN_TABLE, _FUNCTION, _IDENTIFIER, _TYPE, _STORAGE, _DATABASE, _SETTING, _FORMAT, _TYPE_OF_QUERY, NO_SUCH_COLUMN_IN_TABLE
		return http.StatusNotFound
	case 202, 203: // TOO_MANY_SIMULTANEOUS_QUERIES, NO_FREE_CONNECTION
		return http.StatusServiceUnavailable
	case 48: // NOT_IMPLEMENTED
		return http.StatusNotImplemented
	case 159: // TIMEOUT_EXCEEDED
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// toHTTPError turns any error into the exception a ClickHouse server sends.
func toHTTPError(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var ce *chdb.Error
	if errors.As(err, &ce) {
		code := ce.Code
		if code == 0 {
			code = 1001 // STD_EXCEPTION
		}
		msg := ce.Message
		if ce.Code == 0 {
			msg = fmt.Sprintf("Code: %d. DB::Exception: %s. (STD_EXCEPTION)", code, ce.Message)
		}
		return &httpError{status: statusForCode(code), code: code, msg: msg}
	}
	return &httpError{status: http.StatusInternalServerError, code: 1001,
		msg: "Code: 1001. DB::Exception: " + err.Error() + ". (STD_EXCEPTION)"}
}

func writeError(w http.ResponseWriter, err error) {
	he := toHTTPError(err)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("X-ClickHouse-Exception-Code", strconv.Itoa(he.code))
	w.WriteHeader(he.status)
	msg := he.msg
	if len(msg) == 0 || msg[len(msg)-1] != '\n' {
		msg += "\n"
	}
	_, _ = w.Write([]byte(msg))
}
