package kafkabroker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/segmentio/kafka-go"
)

// A raw TCP client announcing requests of a gigabyte each: the broker drops
// each connection when it has read the 4-byte size, without reserving the
// memory, and keeps serving real clients.
func TestBrokerRefusesOversizedRequestBeforeAllocating(t *testing.T) {
	b := start(t, "")
	addr := b.Addrs()[0]

	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const announced = 1 << 30
	for range 3 {
		c := dialRaw(t, addr)
		var size [4]byte
		binary.BigEndian.PutUint32(size[:], announced)
		if _, err := c.Write(size[:]); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapSys) - int64(before.HeapSys); grew > 256<<20 {
		t.Fatalf("the heap grew by %d MiB for three announced 1 GiB requests", grew>>20)
	}
	if got := b.RefusedConnections(); got != 3 {
		t.Errorf("refused connections = %d, want 3", got)
	}
	produceAndRead(t, b)
}

// A request naming an API key that does not exist used to panic kfake's
// connection goroutine, and with it the whole process (the engine of
// `flowlens up` included).
func TestBrokerSurvivesUnknownAPIKey(t *testing.T) {
	b := start(t, "")
	for _, header := range [][2]int16{{9999, 0}, {-1, 0}, {3 /* Metadata */, 999}} {
		c := dialRaw(t, b.Addrs()[0])
		req := binary.BigEndian.AppendUint32(nil, 10)
		req = binary.BigEndian.AppendUint16(req, uint16(header[0]))
		req = binary.BigEndian.AppendUint16(req, uint16(header[1]))
		req = binary.BigEndian.AppendUint32(req, 1) // correlation id
		req = binary.BigEndian.AppendUint16(req, 0) // empty client id
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
	}
	produceAndRead(t, b)
}

// Requests split across reads at every byte keep their framing: a real
// client's requests pass however TCP cuts them.
func TestBrokerGuardFollowsRequestsSplitAnywhere(t *testing.T) {
	b := start(t, "")
	c := dialRaw(t, b.Addrs()[0])
	// Two ApiVersions v0 requests, written one byte at a time.
	var reqs []byte
	for corr := range uint32(2) {
		req := binary.BigEndian.AppendUint32(nil, 10)
		req = binary.BigEndian.AppendUint16(req, 18)
		req = binary.BigEndian.AppendUint16(req, 0)
		req = binary.BigEndian.AppendUint32(req, corr)
		req = binary.BigEndian.AppendUint16(req, 0)
		reqs = append(reqs, req...)
	}
	for i := range reqs {
		if _, err := c.Write(reqs[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	for corr := range uint32(2) {
		var head [8]byte
		if _, err := io.ReadFull(c, head[:]); err != nil {
			t.Fatalf("response %d: %v", corr, err)
		}
		if got := binary.BigEndian.Uint32(head[4:]); got != corr {
			t.Fatalf("response for correlation id %d, want %d", got, corr)
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(head[:4]))-4); err != nil {
			t.Fatal(err)
		}
	}
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectClosed waits for the broker to close c (a read ends with EOF or a
// reset, not with the test's deadline).
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("the broker answered a refused request")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the broker kept the connection open, waiting for the announced request")
	}
}

// produceAndRead proves the broker still serves a real client.
func produceAndRead(t *testing.T, b *kafkabroker.Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := kafkatest.Writer(t, b.Addrs(), kafkawire.DefaultSpansTopic)
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("still served")}); err != nil {
		t.Fatalf("a real client after the attack: %v", err)
	}
}
