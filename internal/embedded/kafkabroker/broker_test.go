package kafkabroker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/flowlens/flowlens/internal/porttest"
	"github.com/segmentio/kafka-go"
)

func start(t *testing.T, dir string) *kafkabroker.Broker {
	t.Helper()
	return kafkatest.Start(t, kafkabroker.Config{DataDir: dir, Topics: kafkawire.TopicsConfig{Partitions: 3}})
}

func TestBrokerPersistsMessagesAndTopicsWithRetention(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	b := start(t, dir)
	addrs := b.Addrs()
	if len(addrs) != 1 || !strings.HasPrefix(addrs[0], "127.0.0.1:") {
		t.Fatalf("addrs %v", addrs)
	}
	cc := kafkawire.ClientConfig{Brokers: addrs}
	tr, _ := cc.Transport()
	w := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: kafkawire.DefaultSpansTopic, Balancer: &kafka.Hash{},
		Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	var msgs []kafka.Message
	for i := 0; i < 100; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint("v", i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	client, _ := cc.Client()
	resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: kafkawire.DefaultLogsTopic, ConfigNames: []string{"retention.ms", "retention.bytes"}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range resp.Resources[0].ConfigEntries {
		got[e.ConfigName] = e.ConfigValue
	}
	if got["retention.ms"] != "86400000" || got["retention.bytes"] != fmt.Sprint(1<<30) {
		t.Fatalf("topic configs %v", got)
	}

	// Restart on the same data folder: the messages are still there.
	_ = b.Shutdown(context.Background())
	b2 := start(t, dir)
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b2.Addrs(), Topic: kafkawire.DefaultSpansTopic, GroupID: "t", MaxWait: 100 * time.Millisecond})
	defer r.Close()
	seen := map[string]bool{}
	for len(seen) < 100 {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(seen), err)
		}
		seen[string(m.Value)] = true
	}
}

func TestConfigRefusesUnspecifiedAddress(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9092", "[::]:9092", "localhost:9092", "127.0.0.1"} {
		cfg := kafkabroker.Config{Addr: addr}
		cfg.SetDefaults()
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "addr:") {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

// A broker started on a listener the caller bound serves and advertises
// that listener's address.
func TestBrokerServesAGivenListener(t *testing.T) {
	port := porttest.Reserve(t)
	b := kafkatest.Start(t, kafkabroker.Config{Listener: port.Listen(t)})
	if got := b.Addrs(); len(got) != 1 || got[0] != port.Addr() {
		t.Fatalf("advertises %v, listener on %s", got, port.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", port.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ReadPartitions(kafkawire.DefaultSpansTopic); err != nil {
		t.Fatalf("metadata through the given listener: %v", err)
	}
}

// The component contract: Shutdown is safe without Start and twice, for
// the broker in this process and in a child.
func TestShutdownWithoutStart(t *testing.T) {
	b, err := kafkabroker.New(kafkabroker.Config{Addr: "127.0.0.1:0"}, component.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := kafkabroker.NewProcess(kafkabroker.Config{Addr: "127.0.0.1:0"}, nil, component.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []component.Component{b, p} {
		for i := 0; i < 2; i++ {
			if err := c.Shutdown(context.Background()); err != nil {
				t.Errorf("%T Shutdown (%d): %v", c, i, err)
			}
		}
	}
}
