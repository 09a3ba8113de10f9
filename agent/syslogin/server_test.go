package syslogin

import (
	"context"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/agent/logrec"
	"github.com/flowlens/flowlens/internal/listener"
)

type memOutput struct {
	mu     *sync.Mutex
	bodies *[]string
	batch  []string
}

func (o *memOutput) Add(_ context.Context, r *logrec.Record) error {
	o.batch = append(o.batch, string(r.Body))
	return nil
}

func (o *memOutput) Flush(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	*o.bodies = append(*o.bodies, o.batch...)
	o.batch = o.batch[:0]
	return nil
}

// The component contract: Shutdown is safe without Start and twice.
func TestShutdownWithoutStartAndTwice(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	out := func() Output { return &memOutput{mu: &mu, bodies: &bodies} }
	cfg := Config{TCP: listener.Config{Listen: "127.0.0.1:0"}, UDP: UDPConfig{Listen: "127.0.0.1:0"}}
	s, err := New(cfg, Settings{NewOutput: out})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s, err = New(cfg, Settings{NewOutput: out})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("<13>1 - - a - - - hi\n"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(bodies)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("message not received")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; i < 2; i++ {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start after Shutdown should fail")
	}
}

// udp.read_buffer sets the socket's receive buffer (Linux reports twice
// the size asked: the kernel's bookkeeping).
func TestUDPReadBuffer(t *testing.T) {
	cfg := Config{UDP: UDPConfig{Listen: "127.0.0.1:0", ReadBuffer: 64 << 10}}
	s, err := New(cfg, Settings{NewOutput: func() Output { return &memOutput{mu: &sync.Mutex{}, bodies: new([]string)} }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	raw, err := s.udp.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	raw.Control(func(fd uintptr) { size, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) })
	if err != nil || size != 2*64<<10 {
		t.Errorf("SO_RCVBUF %d (%v), want %d", size, err, 2*64<<10)
	}
}
