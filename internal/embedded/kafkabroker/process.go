package kafkabroker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/flowlens/flowlens/internal/component"
)

// kfake serves each connection and handles every request on goroutines of
// its own: a panic there (a request that trips a bug) cannot be recovered
// by the embedding program and ends the whole process. In `flowlens up`
// that process holds the ClickHouse engine in the middle of its merges, the
// collector's batches and the analyzer's state. So `flowlens up` runs the
// broker in a child process instead: a crash ends only that child, and
// Process starts it again on the same address and data folder while the
// agent buffers and the consumers retry.

// ReadyPrefix starts the line a child broker prints on its stdout once it
// serves, followed by its address.
const ReadyPrefix = "flowlens-broker-ready "

// childListenerFD is the file descriptor of the listening socket in the
// child: the parent binds the address (so a port in use is its error, with
// the address) and keeps the socket across restarts of the child, whose
// clients queue there meanwhile instead of being refused.
const childListenerFD = 3

// Process runs the broker in a child process and restarts it when it dies.
// Its lifecycle is the Broker's: Start returns once the child serves,
// Shutdown stops it and is safe without Start and twice.
type Process struct {
	cfg     Config
	command func() *exec.Cmd
	logger  *zap.Logger

	mu       sync.Mutex
	addrs    []string
	listener *os.File // the bound socket, handed to every child
	child    *exec.Cmd
	stopping bool
	restarts int
	stop     chan struct{} // closed by Shutdown
	done     chan struct{} // closed when the supervisor ends
}

// NewProcess applies the config's defaults and checks it; Start runs
// command (a `flowlens broker` child reading its config as JSON on stdin
// and printing ReadyPrefix+addr on stdout, see ServeChild) and supervises
// it.
func NewProcess(cfg Config, command func() *exec.Cmd, set component.Settings) (*Process, error) {
	if cfg.Listener != nil {
		return nil, errors.New("kafka broker process: a listener cannot be handed to a child process")
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka broker config: %w", err)
	}
	set = set.WithDefaults()
	return &Process{cfg: cfg, command: command, logger: set.Logger, stop: make(chan struct{})}, nil
}

// Start binds the address, launches the child and returns once it serves.
func (p *Process) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.done != nil {
		p.mu.Unlock()
		return errors.New("kafka broker process already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", p.cfg.Addr)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start embedded kafka broker on %s: %w", p.cfg.Addr, err)
	}
	f, err := ln.(*net.TCPListener).File()
	_ = ln.Close() // f holds the socket
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("kafka broker process: %w", err)
	}
	p.listener, p.addrs = f, []string{ln.Addr().String()}
	p.done = make(chan struct{})
	p.mu.Unlock()
	first := make(chan error, 1)
	go p.supervise(first)
	select {
	case err := <-first:
		if err != nil {
			<-p.done
			p.mu.Lock()
			_ = p.listener.Close()
			p.listener = nil
			p.mu.Unlock()
		}
		return err
	case <-ctx.Done():
		_ = p.Shutdown(context.WithoutCancel(ctx))
		return ctx.Err()
	}
}

// supervise runs the child, and runs it again when it dies, until
// Shutdown.
// It stays on one OS thread: the child's parent-death signal is tied to
// the thread that started it.
func (p *Process) supervise(first chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(p.done)
	backoff := time.Second
	for started := false; ; {
		cmd, err := p.launch()
		if !started {
			first <- err
			if err != nil {
				return
			}
			started = true
		}
		if err == nil {
			backoff = time.Second
			err = cmd.Wait()
		}
		p.mu.Lock()
		stopping := p.stopping
		if !stopping {
			p.restarts++
		}
		p.mu.Unlock()
		if stopping {
			return
		}
		p.logger.Error("the embedded Kafka broker process ended; starting it again", zap.Error(err), zap.Duration("in", backoff))
		select {
		case <-time.After(backoff):
		case <-p.stop:
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// launch starts one child and waits for it to serve.
func (p *Process) launch() (*exec.Cmd, error) {
	p.mu.Lock()
	cfg, listener := p.cfg, p.listener
	cfg.Addr = p.addrs[0] // the port bound at Start
	p.mu.Unlock()
	conf, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka broker process: %w", err)
	}
	cmd := p.command()
	cmd.Stdin = strings.NewReader(string(conf))
	cmd.ExtraFiles = []*os.File{listener} // fd 3: childListenerFD
	// Not in the terminal's process group: Ctrl-C reaches the parent,
	// which stops the broker last, after the agent flushed into it. Dies
	// with the parent.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("kafka broker process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kafka broker process: %w", err)
	}
	addr, err := readReady(out)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("kafka broker process on %s: %w", cfg.Addr, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	p.mu.Lock()
	p.child = cmd
	if p.stopping { // Shutdown ran while this child started
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	p.mu.Unlock()
	p.logger.Info("embedded kafka broker process started", zap.Int("pid", cmd.Process.Pid), zap.String("addr", addr))
	return cmd, nil
}

// readReady reads the child's stdout up to its ready line.
func readReady(out io.Reader) (string, error) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), ReadyPrefix); ok {
			return addr, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("it ended before serving (its error is in the log above)")
}

// Addrs returns the broker addresses to give clients (after Start).
func (p *Process) Addrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.addrs...)
}

// Restarts counts the times the child died and was started again.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// PID is the child's process ID (0 before Start).
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.child == nil || p.child.Process == nil {
		return 0
	}
	return p.child.Process.Pid
}

// Shutdown stops the child (SIGTERM: it saves its state; SIGKILL after
// 30 s) and waits for it. Safe without Start and twice.
func (p *Process) Shutdown(context.Context) error {
	p.mu.Lock()
	if !p.stopping {
		p.stopping = true
		close(p.stop)
	}
	child, done := p.child, p.done
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	if child != nil && child.Process != nil {
		_ = child.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		if child != nil && child.Process != nil {
			_ = child.Process.Kill()
		}
		<-done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener != nil {
		err := p.listener.Close()
		p.listener = nil
		return err
	}
	return nil
}

// ServeChild is the child's side: it reads the config as JSON from stdin,
// serves on the socket its parent passed as file descriptor 3, prints
// ReadyPrefix+address on stdout, and stops when ctx ends.
func ServeChild(ctx context.Context, stdin io.Reader, stdout io.Writer, logger *zap.Logger) error {
	var cfg Config
	if err := json.NewDecoder(stdin).Decode(&cfg); err != nil {
		return fmt.Errorf("read broker config: %w", err)
	}
	ln, err := net.FileListener(os.NewFile(childListenerFD, "broker-listener"))
	if err != nil {
		return fmt.Errorf("broker listener from the parent: %w", err)
	}
	cfg.Listener = ln
	b, err := New(cfg, component.Settings{Logger: logger}) // the address is the listener's
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		return errors.Join(err, b.Shutdown(context.WithoutCancel(ctx)))
	}
	fmt.Fprintln(stdout, ReadyPrefix+b.Addrs()[0])
	<-ctx.Done()
	return b.Shutdown(context.WithoutCancel(ctx))
}
