package agent_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/listener/listenertest"
)

// Syslog over UDP and TCP (octet counting and newline framing), RFC 5424
// and RFC 3164, arrives parsed; an over-long message is cut and marked.
func TestSyslogUDPAndTCP(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), `
syslog:
  tcp: {listen: 127.0.0.1:0}
  udp: {listen: 127.0.0.1:0}
  max_message_size: 1KiB
  flush_interval: 10ms
`)
	ra := startAgent(t, cfg)
	srv := ra.a.Syslog()

	udp, err := net.Dial("udp", srv.UDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	if _, err := udp.Write([]byte(`<165>1 2024-03-01T10:00:00.123Z web-1 cart 4242 ID47 [meta seq="7"] over udp`)); err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Dial("tcp", srv.TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	counted := `<11>1 2024-03-01T10:00:01Z web-2 db - - - octet counted`
	long := "<14>Mar  1 10:00:02 web-3 big: " + strings.Repeat("x", 2000)
	stream := strconv.Itoa(len(counted)) + " " + counted + "<34>Mar  1 10:00:02 web-3 su[230]: newline framed\n" + long + "\n"
	if _, err := tcp.Write([]byte(stream)); err != nil {
		t.Fatal(err)
	}
	c := newConsumed()
	logs := waitLogs(t, c, b.Addrs()[0], 4)
	if src := wantSourceStatus(t, ra.a, "syslog", "syslog", 4); len(src.Reading) != 2 {
		t.Errorf("status of syslog reads %v, want its tcp and udp addresses", src.Reading)
	}

	u := findLog(t, logs, "over udp")
	if u.Res["service.name"] != "cart" || u.Severity != plog.SeverityNumberInfo2 || u.Attrs["syslog.hostname"] != "web-1" ||
		u.Attrs["syslog.sd.meta.seq"] != "7" || u.Attrs["client.address"] != "127.0.0.1" {
		t.Errorf("udp record: %+v", u)
	}
	if l := findLog(t, logs, "octet counted"); l.Res["service.name"] != "db" || l.SevText != "err" {
		t.Errorf("octet counted record: %+v", l)
	}
	if l := findLog(t, logs, "newline framed"); l.Res["service.name"] != "su" || l.Attrs["syslog.procid"] != "230" || l.SevText != "crit" {
		t.Errorf("rfc3164 record: %+v", l)
	}
	var cut gotLog
	for _, l := range logs {
		if strings.HasPrefix(l.Body, "xxx") {
			cut = l
		}
	}
	if cut.Attrs["flowlens.truncated"] != true || len(cut.Body) > 1024 {
		t.Errorf("long message: %d bytes, attrs %v", len(cut.Body), cut.Attrs)
	}
}

// Connections past max_connections are closed at once; the admitted one
// is served.
func TestSyslogConnectionLimit(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), "syslog:\n  tcp: {listen: 127.0.0.1:0}\n  max_connections: 1\n")
	ra := startAgent(t, cfg)
	addr := ra.a.Syslog().TCPAddr()
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// the first is admitted once a message of it arrives
	first.Write([]byte("<13>1 - - app - - - one\n"))
	c := newConsumed()
	waitLogs(t, c, b.Addrs()[0], 1)
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
		t.Fatalf("second connection: want it closed, got %v", err)
	}
	first.Write([]byte("<13>1 - - app - - - two\n"))
	wantBodies(t, waitLogs(t, c, b.Addrs()[0], 2), "one", "two")
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// What a sender sent before the agent stops is in Kafka once it stopped.
func TestSyslogStopKeepsWhatWasSent(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), "syslog:\n  tcp: {listen: 127.0.0.1:0}\n  udp: {listen: 127.0.0.1:0}\n  flush_interval: 1h\n")
	ra := startAgent(t, cfg)
	tcp, err := net.Dial("tcp", ra.a.Syslog().TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	udp, err := net.Dial("udp", ra.a.Syslog().UDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	var batch strings.Builder
	for i := 0; i < 500; i++ {
		batch.WriteString("<13>1 - - app - - - tcp " + strconv.Itoa(i) + "\n")
	}
	if _, err := tcp.Write([]byte(batch.String())); err != nil {
		t.Fatal(err)
	}
	// UDP batches wait for flush_interval (1h here): only the stop sends them
	for i := 0; i < 5; i++ {
		udp.Write([]byte("<13>1 - - app - - - udp " + strconv.Itoa(i)))
	}
	ra.stop(t)
	c := newConsumed()
	c.poll(t, b.Addrs()[0], "otlp_logs")
	if got := len(allLogs(t, c)); got != 505 {
		t.Fatalf("%d records in Kafka after the stop, want 505", got)
	}
}

// Syslog over TLS with client certificates (RFC 5425): a sender with a
// certificate of the configured CA is read, a stranger is not.
func TestSyslogMutualTLS(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	pki := listenertest.NewPKI(t)
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), fmt.Sprintf("syslog:\n  tcp:\n    listen: 127.0.0.1:0\n    tls: {cert_file: %s, key_file: %s, client_ca_file: %s}\n",
		pki.CertFile, pki.KeyFile, pki.CAFile))
	ra := startAgent(t, cfg)
	addr := ra.a.Syslog().TCPAddr()
	send := func(kind int, msg string) {
		conn, err := tls.Dial("tcp", addr, pki.ClientTLS(kind))
		if err != nil {
			return // refused in the handshake
		}
		defer conn.Close()
		conn.Write([]byte(strconv.Itoa(len(msg)) + " " + msg))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		conn.Read(make([]byte, 1)) // until the agent closes it (stranger) or the deadline
	}
	send(listenertest.StrangerCert, "<13>1 - - app - - - from a stranger")
	go send(listenertest.WithCert, "<13>1 - - app - - - from a known sender")
	c := newConsumed()
	waitLogs(t, c, b.Addrs()[0], 1)
	ra.stop(t)
	c.poll(t, b.Addrs()[0], "otlp_logs")
	wantBodies(t, allLogs(t, c), "from a known sender")
}
