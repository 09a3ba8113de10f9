package porttest

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestReservedPortRefusesAndCannotBeTaken(t *testing.T) {
	p := Reserve(t)
	if _, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a reserved port: %v, want connection refused", err)
	}
	// net.Listen sets SO_REUSEADDR, as servers do: still no way in.
	if ln, err := net.Listen("tcp", p.Addr()); err == nil {
		ln.Close()
		t.Fatalf("another listener bound the reserved port %s", p.Addr())
	}
}

func TestListenServesOnTheReservedPort(t *testing.T) {
	p := Reserve(t)
	ln := p.Listen(t)
	defer ln.Close()
	if ln.Addr().String() != p.Addr() {
		t.Fatalf("listening on %s, reserved %s", ln.Addr(), p.Addr())
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err != nil || buf[0] != 'x' {
		t.Fatalf("read %q, %v", buf, err)
	}
}
