package otlpin

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/flowlens/flowlens/internal/otlpwire"
)

const (
	ctProto = "application/x-protobuf"
	ctJSON  = "application/json"
)

// readBody returns the request body (gunzipped) and whether it is JSON.
func (r *Receiver) readBody(w http.ResponseWriter, req *http.Request) ([]byte, bool, bool) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "only POST is allowed", http.StatusMethodNotAllowed)
		return nil, false, false
	}
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	var isJSON bool
	switch mt {
	case ctProto:
	case ctJSON:
		isJSON = true
	default:
		r.malformed.Add(1)
		http.Error(w, fmt.Sprintf("unsupported content type %q: use %s or %s", mt, ctProto, ctJSON), http.StatusUnsupportedMediaType)
		return nil, false, false
	}
	limit := int64(r.cfg.MaxRequestBytes)
	var body io.Reader = http.MaxBytesReader(w, req.Body, limit)
	switch req.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(body)
		if err != nil {
			r.malformed.Add(1)
			writeStatus(w, isJSON, http.StatusBadRequest, "gzip: "+err.Error())
			return nil, false, false
		}
		defer gz.Close()
		body = io.LimitReader(gz, limit+1)
	default:
		r.malformed.Add(1)
		writeStatus(w, isJSON, http.StatusUnsupportedMediaType, "unsupported content encoding "+req.Header.Get("Content-Encoding"))
		return nil, false, false
	}
	data, err := io.ReadAll(body)
	if err != nil || int64(len(data)) > limit {
		r.malformed.Add(1)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || int64(len(data)) > limit {
			writeStatus(w, isJSON, http.StatusRequestEntityTooLarge, fmt.Sprintf("request larger than %d bytes", limit))
		} else {
			writeStatus(w, isJSON, http.StatusBadRequest, "read body: "+err.Error())
		}
		return nil, false, false
	}
	return data, isJSON, true
}

func (r *Receiver) handleTraces(w http.ResponseWriter, req *http.Request) {
	ereq := ptraceotlp.NewExportRequest()
	r.serveExport(w, req, "traces", ereq, ptraceotlp.NewExportResponse(), &r.spans, func(ctx context.Context) (int, error) {
		td := ereq.Traces()
		return td.SpanCount(), r.sink.ConsumeTraces(ctx, td)
	}, otlpwire.ValidateTraces, r.consumeTracesProto)
}

func (r *Receiver) handleLogs(w http.ResponseWriter, req *http.Request) {
	ereq := plogotlp.NewExportRequest()
	r.serveExport(w, req, "logs", ereq, plogotlp.NewExportResponse(), &r.logRecs, func(ctx context.Context) (int, error) {
		ld := ereq.Logs()
		return ld.LogRecordCount(), r.sink.ConsumeLogs(ctx, ld)
	}, otlpwire.ValidateLogs, r.consumeLogsProto)
}

// exportMessage is what an OTLP export request or response of any signal
// can do: the HTTP handling is the same for traces and logs.
type exportMessage interface {
	UnmarshalJSON([]byte) error
	UnmarshalProto([]byte) error
	MarshalJSON() ([]byte, error)
	MarshalProto() ([]byte, error)
}

// serveExport decodes ereq from the body, hands it to consume (which returns
// how many records it held), and answers with resp. accepted counts the
// records taken. A protobuf body goes to a ProtoSink as it came instead,
// once validate (which counts its records) accepts it.
func (r *Receiver) serveExport(w http.ResponseWriter, req *http.Request, signal string, ereq, resp exportMessage,
	accepted *atomic.Int64, consume func(context.Context) (int, error),
	validate func([]byte) (int, error), consumeProto func(context.Context, []byte, int) (int, error)) {
	// The body first, under the server's read deadline; a slot only for
	// a request that has arrived, so slow senders hold none.
	data, isJSON, ok := r.readBody(w, req)
	if !ok {
		return
	}
	if err := acquire(req.Context(), r.httpSlots); err != nil {
		return // the client went away, or took too long
	}
	defer func() { <-r.httpSlots }()
	if _, raw := r.sink.(ProtoSink); raw && !isJSON {
		n, err := validate(data)
		if err != nil {
			r.malformed.Add(1)
			writeStatus(w, false, http.StatusBadRequest, "decode "+signal+": "+err.Error())
			return
		}
		n, err = consumeProto(req.Context(), data, n)
		r.count(err)
		if err != nil {
			r.writeSinkError(w, false, err)
			return
		}
		accepted.Add(int64(n))
		out, err := resp.MarshalProto()
		writeBody(w, false, http.StatusOK, out, err)
		return
	}
	var err error
	if isJSON {
		err = ereq.UnmarshalJSON(data)
	} else {
		err = ereq.UnmarshalProto(data)
	}
	if err != nil {
		r.malformed.Add(1)
		writeStatus(w, isJSON, http.StatusBadRequest, "decode "+signal+": "+err.Error())
		return
	}
	n, err := consume(req.Context())
	r.count(err)
	if err != nil {
		r.writeSinkError(w, isJSON, err)
		return
	}
	accepted.Add(int64(n))
	var out []byte
	if isJSON {
		out, err = resp.MarshalJSON()
	} else {
		out, err = resp.MarshalProto()
	}
	writeBody(w, isJSON, http.StatusOK, out, err)
}

func (r *Receiver) writeSinkError(w http.ResponseWriter, isJSON bool, err error) {
	switch {
	case errors.Is(err, ErrRetryLater):
		w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Seconds())))
		writeStatus(w, isJSON, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, ErrInvalid):
		writeStatus(w, isJSON, http.StatusBadRequest, err.Error())
	default:
		w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Seconds())))
		writeStatus(w, isJSON, http.StatusServiceUnavailable, err.Error())
	}
}

// writeStatus answers with a google.rpc.Status body, as OTLP/HTTP specifies.
func writeStatus(w http.ResponseWriter, isJSON bool, code int, msg string) {
	st := &spb.Status{Code: int32(httpToGRPC(code)), Message: msg}
	var out []byte
	var err error
	if isJSON {
		out, err = protojson.Marshal(st)
	} else {
		out, err = proto.Marshal(st)
	}
	writeBody(w, isJSON, code, out, err)
}

func writeBody(w http.ResponseWriter, isJSON bool, code int, out []byte, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if isJSON {
		w.Header().Set("Content-Type", ctJSON)
	} else {
		w.Header().Set("Content-Type", ctProto)
	}
	w.WriteHeader(code)
	_, _ = io.Copy(w, bytes.NewReader(out))
}

func httpToGRPC(code int) int {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return 3 // INVALID_ARGUMENT
	case http.StatusTooManyRequests:
		return 8 // RESOURCE_EXHAUSTED
	case http.StatusServiceUnavailable:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}
