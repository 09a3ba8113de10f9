package kafkawire_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
	"github.com/segmentio/kafka-go"
)

func TestEnsureTopicsCreatesMissingAndExplainsRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := kafkatest.Start(t, kafkabroker.Config{})
	cc := kafkawire.ClientConfig{Brokers: b.Addrs()}
	client, err := cc.Client()
	if err != nil {
		t.Fatal(err)
	}

	tc := kafkawire.TopicsConfig{Spans: "s2", Logs: "l2", DeadLetter: "d2", Partitions: 4}
	tc.SetDefaults()
	if err := kafkawire.EnsureTopics(ctx, client, tc.Specs()); err != nil {
		t.Fatal(err)
	}
	if err := kafkawire.EnsureTopics(ctx, client, tc.Specs()); err != nil {
		t.Fatalf("second call on existing topics: %v", err)
	}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"s2", "l2", "d2"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range meta.Topics {
		if len(tp.Partitions) != 4 {
			t.Errorf("%s has %d partitions", tp.Name, len(tp.Partitions))
		}
	}

	bad := kafkawire.TopicSpec{Name: "replicated", Partitions: 1, ReplicationFactor: 3, Retention: time.Hour, RetentionBytes: 1 << 20}
	err = kafkawire.EnsureTopics(ctx, client, []kafkawire.TopicSpec{bad})
	if err == nil || !strings.Contains(err.Error(), "replication factor 3 is more than the 1 broker(s)") {
		t.Fatalf("want an explained refusal, got %v", err)
	}
}

func TestClientConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   kafkawire.ClientConfig
		field string // "" = valid
	}{
		{"empty is embedded", kafkawire.ClientConfig{}, ""},
		{"brokers", kafkawire.ClientConfig{Brokers: []string{"k1:9092", "10.0.0.2:9093"}}, ""},
		{"no port", kafkawire.ClientConfig{Brokers: []string{"k1:9092", "k2"}}, "brokers[1]"},
		{"bad port", kafkawire.ClientConfig{Brokers: []string{"k1:x"}}, "brokers[0]"},
		{"scram", kafkawire.ClientConfig{SASL: kafkawire.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}}, ""},
		{"unknown sasl", kafkawire.ClientConfig{SASL: kafkawire.SASLConfig{Mechanism: "GSSAPI", Username: "u"}}, "sasl.mechanism"},
		{"sasl without user", kafkawire.ClientConfig{SASL: kafkawire.SASLConfig{Mechanism: "PLAIN"}}, "sasl.username"},
		{"tls files without tls", kafkawire.ClientConfig{TLS: kafkawire.TLSConfig{CAFile: "/x"}}, "tls.enabled"},
		{"cert without key", kafkawire.ClientConfig{TLS: kafkawire.TLSConfig{Enabled: true, CertFile: "/c"}}, "tls.cert_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.SetDefaults()
			err := tc.cfg.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
				t.Fatalf("got %v, want an error on %s", err, tc.field)
			}
		})
	}
}
