// Package kafkatest gives tests the embedded Kafka-protocol broker
// (internal/embedded/kafkabroker), started for one test and closed when it ends, and
// producers to it. There is no skipping: a test whose broker does not start
// fails.
package kafkatest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/flowlens/flowlens/internal/component"
	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkawire"
)

// Start runs the embedded broker for the test with cfg's settings and
// defaults: on a free 127.0.0.1 port unless cfg.Addr or cfg.Listener says
// where, in memory unless cfg.DataDir is set, with the flowlens topics
// (one partition each unless cfg.Topics.Partitions says more). Its warnings
// go to the test's log. It is shut down when the test ends; a test may
// shut it down earlier, and start another on the same Addr and DataDir (a
// restart).
func Start(t testing.TB, cfg kafkabroker.Config) *kafkabroker.Broker {
	t.Helper()
	if cfg.Addr == "" && cfg.Listener == nil {
		cfg.Addr = "127.0.0.1:0"
	}
	cfg.SetDefaults()
	b, err := kafkabroker.New(cfg, component.Settings{Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		err = b.Start(ctx)
		// A restart on the port of a broker just closed may find it
		// still held for a moment.
		if err == nil || !fixedPort(cfg) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("start the embedded Kafka broker: %v", err)
	}
	return b
}

// fixedPort says whether the broker binds a port chosen before it started.
func fixedPort(cfg kafkabroker.Config) bool {
	_, port, _ := net.SplitHostPort(cfg.Addr)
	return cfg.Listener == nil && port != "0"
}

// Writer is a producer to topic on brokers, with the transport flowlens'
// clients use (kafkawire.ClientConfig): messages with the same key go to the
// same partition (Sarama-compatible hash), every write is acknowledged by
// all replicas and waits at most 2ms to fill a batch. The transport is its
// own: kafka-go's shared one caches metadata for 6s, so it would not know a
// topic created just before. Set other fields before the first write. It is
// closed when the test ends.
func Writer(t testing.TB, brokers []string, topic string) *kafka.Writer {
	t.Helper()
	cc := kafkawire.ClientConfig{Brokers: brokers}
	tr, err := cc.Transport()
	if err != nil {
		t.Fatalf("kafka transport: %v", err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{}, Transport: tr,
		RequiredAcks: kafka.RequireAll, BatchTimeout: 2 * time.Millisecond}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// DeleteRecords deletes the records of topic's partition before offset
// through the broker's admin API (DeleteRecords, as kafka-delete-records
// does): a fault that loses acknowledged messages. kafka-go has no
// DeleteRecords; franz-go's client sends it to the partition's leader.
func DeleteRecords(t testing.TB, brokers []string, topic string, partition int32, before int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("kafka admin client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 5000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, before
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("delete records of %s/%d before %d: %v", topic, partition, before, err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("delete records of %s/%d before %d: %v", topic, partition, before, err)
			}
			if rp.LowWatermark != before {
				t.Fatalf("delete records of %s/%d before %d: the partition now starts at %d", topic, partition, before, rp.LowWatermark)
			}
		}
	}
}
