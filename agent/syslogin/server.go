// Package syslogin receives syslog messages (RFC 5424 and RFC 3164) over
// UDP and TCP (octet counting or newline framing, optional TLS), parses
// them into log records and hands them to the agent, connection by
// connection.
package syslogin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/listener"
)

// Config of the syslog receiver (the agent's `syslog:` section).
type Config struct {
	// TCP is a listener of the usual shape (listen, tls; default off).
	// auth does not apply: syslog senders send no tokens (use mutual TLS).
	TCP listener.Config `yaml:"tcp"`
	// UDP listens for one message per datagram (default off).
	UDP UDPConfig `yaml:"udp"`
	// Format: auto (default: RFC 5424 when a version follows the
	// priority, else RFC 3164), rfc5424 or rfc3164.
	Format string `yaml:"format"`
	// Timezone of RFC 3164 timestamps, which carry none: an IANA name or
	// Local (default).
	Timezone string `yaml:"timezone"`
	// MaxMessageSize cuts longer messages (marked flowlens.truncated;
	// default 64KiB).
	MaxMessageSize bytesize.Size `yaml:"max_message_size"`
	// MaxConnections bounds the TCP connections at a time; more are
	// closed at once (default 256).
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout closes a TCP connection that sent nothing for this long
	// (default 5m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// FlushInterval is how long UDP messages wait for more to share their
	// batch (default 100ms). TCP batches are sent whenever the connection
	// has nothing more to read.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Service is the service.name of messages without an app name.
	Service string `yaml:"service"`
	// Attributes are extra resource attributes.
	Attributes map[string]string `yaml:"attributes"`
}

// UDPConfig is the UDP socket.
type UDPConfig struct {
	// Listen is host:port, or off (default).
	Listen string `yaml:"listen"`
	// ReadBuffer is the socket's receive buffer (SO_RCVBUF; default 0:
	// the system's, net.core.rmem_default, which caps it at
	// net.core.rmem_max): a larger one rides out bursts while a batch is
	// written, where datagrams would otherwise be dropped by the kernel.
	ReadBuffer bytesize.Size `yaml:"read_buffer"`
}

// SetDefaults fills the unset fields.
func (c *Config) SetDefaults() {
	c.TCP.SetDefaults(listener.Off)
	if c.UDP.Listen == "" {
		c.UDP.Listen = listener.Off
	}
	if c.Format == "" {
		c.Format = FormatAuto
	}
	if c.Timezone == "" {
		c.Timezone = "Local"
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 64 << 10
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 256
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = 100 * time.Millisecond
	}
}

// Validate checks the settings.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(config.Nest("tcp", c.TCP.Validate()))
	if c.TCP.Auth.On() {
		add(config.Errorf("tcp.auth", "syslog senders send no tokens: use tls.client_ca_file to admit only known senders"))
	}
	if c.UDP.Listen != listener.Off {
		add(config.Nest("udp", listener.Config{Listen: c.UDP.Listen}.Validate()))
	}
	if !c.TCP.On() && c.UDP.Listen == listener.Off {
		add(config.Errorf("tcp.listen", "tcp and udp are both off: set tcp.listen or udp.listen"))
	}
	switch c.Format {
	case FormatAuto, FormatRFC5424, FormatRFC3164:
	default:
		add(config.Errorf("format", "%q: want auto, rfc5424 or rfc3164", c.Format))
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		add(config.Errorf("timezone", "%v", err))
	}
	if c.MaxMessageSize < 480 || c.MaxMessageSize > 16<<20 {
		add(config.Errorf("max_message_size", "must be between 480B (RFC 5424's minimum) and 16MiB"))
	}
	if c.UDP.ReadBuffer < 0 || c.UDP.ReadBuffer > 1<<30 {
		add(config.Errorf("udp.read_buffer", "must be between 0 (the system's) and 1GiB"))
	}
	if c.MaxConnections < 1 {
		add(config.Errorf("max_connections", "must be at least 1"))
	}
	if c.IdleTimeout < time.Second {
		add(config.Errorf("idle_timeout", "must be at least 1s"))
	}
	if c.FlushInterval < time.Millisecond {
		add(config.Errorf("flush_interval", "must be at least 1ms"))
	}
	return errors.Join(errs...)
}

// Output takes the records of one TCP connection or of the UDP socket,
// always from one goroutine. Add may block while the disk buffer is full
// (the sender is then not read: TCP pushes back, UDP datagrams are
// dropped by the kernel). Flush sends what Add kept; Close follows the
// last Flush.
type Output interface {
	Add(ctx context.Context, r *logrec.Record) error
	Flush(ctx context.Context) error
}

// Settings are the receiver's dependencies.
type Settings struct {
	component.Settings
	// NewOutput makes the output of one connection (or the UDP socket).
	NewOutput func() Output
}

// Stats are the receiver's counters.
type Stats struct {
	Messages, ParseErrors, Truncated, Connections, RefusedConnections, FramingErrors int64
}

// Server is the syslog receiver.
type Server struct {
	cfg       Config
	log       *zap.Logger
	tcp       *listener.Endpoint
	loc       *time.Location
	newOutput func() Output

	mu       sync.Mutex
	started  bool
	ln       net.Listener
	udp      *net.UDPConn
	conns    map[net.Conn]struct{}
	stopping atomic.Bool
	wg       sync.WaitGroup
	work     context.Context
	stopWork context.CancelFunc
	stopOnce sync.Once

	messages, parseErrors, truncated, connections, refused, framing atomic.Int64
}

// New checks cfg and loads the TCP listener's certificates; nothing
// listens before Start.
func New(cfg Config, set Settings) (*Server, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.NewOutput == nil {
		return nil, errors.New("syslog receiver: no output")
	}
	set.Settings = set.Settings.WithDefaults()
	ep, err := listener.Load(cfg.TCP)
	if err != nil {
		return nil, config.Nest("tcp", err)
	}
	loc, _ := time.LoadLocation(cfg.Timezone)
	return &Server{cfg: cfg, log: set.Logger, tcp: ep, loc: loc, newOutput: set.NewOutput, conns: map[net.Conn]struct{}{}}, nil
}

// Start binds the sockets and serves them in the background.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("syslog receiver already started")
	}
	s.started = true
	// the outputs' last appends may outlive Shutdown's ctx a little: their
	// own context ends when Shutdown gives up waiting
	s.work, s.stopWork = context.WithCancel(context.WithoutCancel(ctx))
	if s.cfg.TCP.On() {
		ln, err := s.tcp.Listen(ctx)
		if err != nil {
			return fmt.Errorf("listen for syslog over tcp on %s: %w", s.cfg.TCP.Listen, err)
		}
		if tc := s.tcp.TLSConfig(); tc != nil {
			ln = tls.NewListener(ln, tc)
		}
		s.ln = ln
		s.wg.Add(1)
		go s.accept(ln)
	}
	if s.cfg.UDP.Listen != listener.Off {
		var lc net.ListenConfig
		pc, err := lc.ListenPacket(ctx, "udp", s.cfg.UDP.Listen)
		if err != nil {
			if s.ln != nil {
				s.ln.Close()
			}
			return fmt.Errorf("listen for syslog over udp on %s: %w", s.cfg.UDP.Listen, err)
		}
		s.udp = pc.(*net.UDPConn)
		if rb := s.cfg.UDP.ReadBuffer; rb > 0 {
			if err := s.udp.SetReadBuffer(int(rb)); err != nil {
				s.log.Warn("cannot set the syslog udp receive buffer", zap.Stringer("read_buffer", rb), zap.Error(err))
			}
		}
		s.wg.Add(1)
		go s.serveUDP(s.udp)
	}
	return nil
}

// TCPAddr is the bound TCP address ("" when off or not started).
func (s *Server) TCPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// UDPAddr is the bound UDP address ("" when off or not started).
func (s *Server) UDPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		return ""
	}
	return s.udp.LocalAddr().String()
}

// Stats reads the counters.
func (s *Server) Stats() Stats {
	return Stats{Messages: s.messages.Load(), ParseErrors: s.parseErrors.Load(), Truncated: s.truncated.Load(),
		Connections: s.connections.Load(), RefusedConnections: s.refused.Load(), FramingErrors: s.framing.Load()}
}

// Shutdown stops listening, lets every connection hand over what it has
// read (its batch is flushed) and waits for them until ctx ends. Safe
// without Start and twice.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.started = true
		s.stopping.Store(true)
		if s.ln != nil {
			s.ln.Close()
		}
		// what the senders sent up to now is read still (it is in the
		// kernel's buffers), for a short while
		end := time.Now().Add(drainWait)
		if s.udp != nil {
			_ = s.udp.SetReadDeadline(end)
		}
		for c := range s.conns {
			_ = c.SetReadDeadline(end)
		}
		s.mu.Unlock()
	})
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if s.stopWork != nil {
			s.stopWork()
		}
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp != nil {
		s.udp.Close()
	}
	if s.stopWork != nil {
		s.stopWork()
	}
	return nil
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.stopping.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("syslog tcp accept failed", zap.Error(err))
			time.Sleep(100 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		s.mu.Lock()
		if s.stopping.Load() || len(s.conns) >= s.cfg.MaxConnections {
			s.mu.Unlock()
			s.refused.Add(1)
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.connections.Add(1)
		go s.serveTCP(c)
	}
}

func (s *Server) serveTCP(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	out := s.newOutput()
	defer func() { _ = out.Flush(s.work) }()
	peer := addrOf(c.RemoteAddr())
	fr := NewFrameReader(c, int(s.cfg.MaxMessageSize))
	p := NewParser(s.cfg.Format, s.loc, nil)
	var r logrec.Record
	for {
		if !fr.Buffered() {
			// nothing more read: send the batch, then wait for the sender
			if err := out.Flush(s.work); err != nil {
				return
			}
			if !s.stopping.Load() {
				_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
				if s.stopping.Load() { // Shutdown's deadline may just have been replaced
					_ = c.SetReadDeadline(time.Now().Add(drainWait))
				}
			}
		}
		msg, cut, err := fr.Next()
		if err != nil {
			if errors.Is(err, ErrFraming) {
				s.framing.Add(1)
				s.log.Warn("syslog tcp sender's stream cannot be framed; closing its connection", zap.Stringer("peer", peer), zap.Error(err))
			}
			return
		}
		if len(msg) == 0 {
			continue
		}
		if err := s.handle(p, &r, msg, cut, peer, out); err != nil {
			return
		}
	}
}

func (s *Server) serveUDP(c *net.UDPConn) {
	defer s.wg.Done()
	out := s.newOutput()
	defer func() { _ = out.Flush(s.work) }()
	max := int(s.cfg.MaxMessageSize)
	buf := make([]byte, max+1)
	p := NewParser(s.cfg.Format, s.loc, nil)
	var r logrec.Record
	pending := false
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !s.stopping.Load() {
				// the flush interval passed: send the batch
				if err := out.Flush(s.work); err != nil {
					return
				}
				pending = false
				_ = c.SetReadDeadline(time.Time{})
				if s.stopping.Load() { // Shutdown's deadline may just have been replaced
					_ = c.SetReadDeadline(time.Now().Add(drainWait))
				}
				continue
			}
			return
		}
		msg := trimNewline(buf[:min(n, max)])
		if len(msg) == 0 {
			continue
		}
		if err := s.handle(p, &r, msg, n > max, from.Addr(), out); err != nil {
			return
		}
		if !pending && !s.stopping.Load() {
			pending = true
			_ = c.SetReadDeadline(time.Now().Add(s.cfg.FlushInterval))
			if s.stopping.Load() {
				_ = c.SetReadDeadline(time.Now().Add(drainWait))
			}
		}
	}
}

// drainWait is how long Shutdown goes on reading what senders had sent.
const drainWait = 200 * time.Millisecond

var (
	keyClientAddress = []byte("client.address")
	keyTruncated     = []byte("flowlens.truncated")
)

func (s *Server) handle(p *Parser, r *logrec.Record, msg []byte, cut bool, peer netip.Addr, out Output) error {
	r.Reset()
	r.ObservedUnixNano = uint64(time.Now().UnixNano())
	if !p.Parse(msg, r) {
		s.parseErrors.Add(1)
	}
	if peer.IsValid() {
		r.Reserve(64)
		start := len(r.Scratch)
		r.Scratch = peer.Unmap().AppendTo(r.Scratch)
		r.AddString(keyClientAddress, r.Scratch[start:len(r.Scratch):len(r.Scratch)])
	}
	if cut {
		r.AddBool(keyTruncated, true)
		s.truncated.Add(1)
	}
	s.messages.Add(1)
	return out.Add(s.work, r)
}

func addrOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr()
	}
	return netip.Addr{}
}

// UnmarshalYAML applies the defaults after decoding (they only fill what
// is unset), so that absent keys get them.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Config
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	c.SetDefaults()
	return nil
}
