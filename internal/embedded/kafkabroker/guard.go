package kafkabroker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// kfake reads a request's 4-byte size and allocates that many bytes before
// reading the body (three headers of 0xffffffff reserved 12 GiB), and it
// calls a method on the request of an unknown API key, which panics the
// process. Both happen before anything in kfake could refuse them, so the
// broker's connections are read through a guard that sees every request's
// size and header first and drops the connection when either is bad: the
// bytes that announce a bad request never reach kfake.

// errRefusedRequest ends a connection whose request the guard refused.
var errRefusedRequest = errors.New("kafka request refused")

// guardedListener wraps each accepted connection in a requestGuard.
type guardedListener struct {
	net.Listener
	maxRequestBytes uint32
	logger          *zap.Logger
	refused         *atomic.Int64
}

func (l guardedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &requestGuard{Conn: c, l: l}, nil
}

// requestGuard follows the request framing of the bytes kfake reads:
// size (int32), then api_key (int16) and api_version (int16) at the start
// of the body. A Read that would complete a size above maxRequestBytes, or
// a header naming an API kmsg does not know or a version it does not
// have, returns an error instead of its bytes.
type requestGuard struct {
	net.Conn
	l guardedListener

	head    [8]byte // the size and the first 4 bytes of the body
	nHead   int     // bytes of head seen of the current request
	size    uint32  // the current request's body size, once nHead >= 4
	pending uint32  // body bytes after the header still to come
	refused bool
}

func (g *requestGuard) Read(p []byte) (int, error) {
	if g.refused {
		return 0, errRefusedRequest
	}
	n, err := g.Conn.Read(p)
	if verr := g.follow(p[:n]); verr != nil {
		g.refused = true
		g.l.refused.Add(1)
		g.l.logger.Warn("kafka connection dropped: bad request", zap.Stringer("client", g.Conn.RemoteAddr()), zap.Error(verr))
		return 0, fmt.Errorf("%w: %w", errRefusedRequest, verr)
	}
	return n, err
}

// follow advances the framing state over b, checking each header as it
// completes.
func (g *requestGuard) follow(b []byte) error {
	for len(b) > 0 {
		switch {
		case g.nHead < 4: // the size
			k := copy(g.head[g.nHead:4], b)
			g.nHead += k
			b = b[k:]
			if g.nHead == 4 {
				g.size = binary.BigEndian.Uint32(g.head[:4])
				if g.size > g.l.maxRequestBytes {
					return fmt.Errorf("request of %d bytes, more than max_request_bytes %d", g.size, g.l.maxRequestBytes)
				}
				if g.size < 4 { // no header to check: kfake fails to parse it
					g.nHead, g.pending = 8, g.size
				}
			}
		case g.nHead < 8: // api_key and api_version
			k := copy(g.head[g.nHead:8], b)
			g.nHead += k
			b = b[k:]
			if g.nHead == 8 {
				if err := checkHeader(g.head[4:8]); err != nil {
					return err
				}
				g.pending = g.size - 4
			}
		default: // the rest of the body
			k := min(uint32(min(len(b), math.MaxInt32)), g.pending)
			g.pending -= k
			b = b[k:]
		}
		if g.nHead == 8 && g.pending == 0 {
			g.nHead = 0
		}
	}
	return nil
}

// checkHeader refuses an API key kmsg cannot build a request for (kfake
// would call a method on nil) and a version outside what kmsg knows.
func checkHeader(h []byte) error {
	key := int16(binary.BigEndian.Uint16(h[0:2]))
	version := int16(binary.BigEndian.Uint16(h[2:4]))
	req := kmsg.RequestForKey(key)
	if req == nil {
		return fmt.Errorf("unknown api key %d", key)
	}
	if version < 0 || version > req.MaxVersion() {
		return fmt.Errorf("api key %d (%s): version %d outside 0-%d", key, kmsg.NameForKey(key), version, req.MaxVersion())
	}
	return nil
}
