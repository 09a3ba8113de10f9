package chserver

import (
	"sync"

	"github.com/flowlens/flowlens/internal/embedded/chdb"
)

// sessionPool keeps the engine sessions of finished reads for the next
// request that would set them up the same way. A request's session is
// opened, then gets USE and SET (the client's settings and the role's):
// about 0.7 ms of the engine's CPU before the statement runs, most of an
// empty query's cost (BenchmarkSmallSelect's CPU profile: opening 0.37 ms,
// USE and SET 0.33 ms, of 2.0 ms a request). A lookup sends four queries.
//
// A session is kept only after a read (SELECT, WITH, SHOW, DESCRIBE,
// EXISTS; see readStatement) that succeeded: those leave its state as USE
// and SET left it (a SETTINGS clause is the query's own), so a session is
// handed out again only to a request whose key, the database and the
// whole SET, is the same. Any other statement (SET, USE, CREATE TEMPORARY
// TABLE, INSERT, ...) or any error closes the session, as before.
type sessionPool struct {
	mu     sync.Mutex
	idle   []pooledSession // oldest first
	max    int
	closed bool
}

type pooledSession struct {
	key  string
	conn *chdb.Conn
}

func newSessionPool(max int) *sessionPool { return &sessionPool{max: max} }

// get takes an idle session set up for key, or returns nil.
func (p *sessionPool) get(key string) *chdb.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		if p.idle[i].key == key {
			c := p.idle[i].conn
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return c
		}
	}
	return nil
}

// put keeps c for the next request with key; when the pool is full the
// session idle longest is closed, and after close c itself is.
func (p *sessionPool) put(key string, c *chdb.Conn) {
	p.mu.Lock()
	if p.closed || p.max <= 0 {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.idle = append(p.idle, pooledSession{key: key, conn: c})
	var evicted *chdb.Conn
	if len(p.idle) > p.max {
		evicted = p.idle[0].conn
		p.idle = p.idle[1:]
	}
	p.mu.Unlock()
	if evicted != nil {
		evicted.Close()
	}
}

// close closes the idle sessions; sessions put after it are closed too.
func (p *sessionPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, s := range idle {
		s.conn.Close()
	}
}

// readStatement says whether the engine's canonical text of a statement
// is a read that leaves its session's state as it found it.
func readStatement(canonical string) bool {
	toks, err := lex(canonical)
	if err != nil || len(toks) == 0 {
		return false
	}
	first := toks[0]
	return first.kind == tokOpenParen || first.is("SELECT") || first.is("WITH") || first.is("SHOW") ||
		first.is("DESCRIBE") || first.is("DESC") || first.is("EXISTS")
}
