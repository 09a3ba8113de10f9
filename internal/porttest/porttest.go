// Package porttest gives tests loopback ports without the race of finding a
// free port, closing it and binding it later (another test process may take
// it in between). A Port is a socket bound from the start: connections to it
// are refused, and no other socket can bind it, until the test hands it to a
// server with Listen.
package porttest

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// Port is a bound, not yet listening, TCP socket on 127.0.0.1.
type Port struct {
	fd   int
	addr string
}

// Reserve binds a port for the rest of the test. It is released at the
// end of the test unless Listen took it.
func Reserve(t testing.TB) *Port {
	t.Helper()
	// No SO_REUSEADDR: with it, another non-listening socket could share
	// the port.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("reserve a port: socket: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatalf("reserve a port: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		t.Fatalf("reserve a port: getsockname: %v", err)
	}
	p := &Port{fd: fd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))}
	t.Cleanup(func() {
		if p.fd >= 0 {
			syscall.Close(p.fd)
		}
	})
	return p
}

// Refused returns an address where every connection is refused for the
// rest of the test: nothing listens there, and nothing else can.
func Refused(t testing.TB) string {
	t.Helper()
	return Reserve(t).Addr()
}

// Addr is host:port.
func (p *Port) Addr() string { return p.addr }

// Listen starts listening on the port and returns the listener; the
// caller (a server) owns it from then on.
func (p *Port) Listen(t testing.TB) net.Listener {
	t.Helper()
	if p.fd < 0 {
		t.Fatal("porttest: Listen called twice")
	}
	if err := syscall.Listen(p.fd, syscall.SOMAXCONN); err != nil {
		t.Fatalf("listen on %s: %v", p.addr, err)
	}
	f := os.NewFile(uintptr(p.fd), p.addr)
	p.fd = -1
	defer f.Close() // FileListener holds its own descriptor
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatalf("listen on %s: %v", p.addr, err)
	}
	return ln
}
