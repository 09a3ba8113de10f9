package kafkawire

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/segmentio/kafka-go"
)

// Default topic names: the OpenTelemetry Collector kafka exporter's defaults,
// so its exporter and receiver work with flowlens topics unchanged.
const (
	DefaultSpansTopic      = "otlp_spans"
	DefaultLogsTopic       = "otlp_logs"
	DefaultDeadLetterTopic = "flowlens_dead_letter"
	DefaultLedgerTopic     = "flowlens_ledger"
)

// TopicsConfig names the topics and how they are created when missing.
type TopicsConfig struct {
	Spans      string `yaml:"spans"`       // default otlp_spans
	Logs       string `yaml:"logs"`        // default otlp_logs
	DeadLetter string `yaml:"dead_letter"` // default flowlens_dead_letter
	// Ledger carries the agents' per-interval record counts (default
	// flowlens_ledger; see LedgerReport).
	Ledger string `yaml:"ledger"`
	// Create makes missing topics at start-up (default true).
	Create *bool `yaml:"create"`
	// Partitions of a created topic (default 6).
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of a created topic (default 1: the embedded broker has one node).
	ReplicationFactor int `yaml:"replication_factor"`
	// Retention (retention.ms) of a created topic (default 24h).
	Retention time.Duration `yaml:"retention"`
	// RetentionBytes (retention.bytes, per partition) of a created topic (default 1 GiB).
	RetentionBytes bytesize.Size `yaml:"retention_bytes"`
	// MaxMessageBytes (max.message.bytes) of a created topic (default 0: broker default, about 1 MB).
	MaxMessageBytes bytesize.Size `yaml:"max_message_bytes"`
}

// SetDefaults fills the unset fields.
func (c *TopicsConfig) SetDefaults() {
	if c.Spans == "" {
		c.Spans = DefaultSpansTopic
	}
	if c.Logs == "" {
		c.Logs = DefaultLogsTopic
	}
	if c.DeadLetter == "" {
		c.DeadLetter = DefaultDeadLetterTopic
	}
	if c.Ledger == "" {
		c.Ledger = DefaultLedgerTopic
	}
	if c.Create == nil {
		t := true
		c.Create = &t
	}
	if c.Partitions == 0 {
		c.Partitions = 6
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
	if c.Retention == 0 {
		c.Retention = 24 * time.Hour
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = 1 << 30
	}
}

// Validate checks names and numbers, and reports every mistake.
func (c *TopicsConfig) Validate() error {
	var errs []error
	for _, f := range []struct{ field, v string }{{"spans", c.Spans}, {"logs", c.Logs}, {"dead_letter", c.DeadLetter}, {"ledger", c.Ledger}} {
		if err := validTopicName(f.v); err != nil {
			errs = append(errs, config.Errorf(f.field, "%v", err))
		}
	}
	if c.Spans == c.Logs {
		errs = append(errs, config.Errorf("logs", "must differ from spans (%q)", c.Spans))
	}
	if c.DeadLetter == c.Spans || c.DeadLetter == c.Logs {
		errs = append(errs, config.Errorf("dead_letter", "must differ from the spans and logs topics"))
	}
	if c.Ledger == c.Spans || c.Ledger == c.Logs || c.Ledger == c.DeadLetter {
		errs = append(errs, config.Errorf("ledger", "must differ from the spans, logs and dead-letter topics"))
	}
	if c.Partitions < 1 {
		errs = append(errs, config.Errorf("partitions", "must be at least 1"))
	}
	if c.ReplicationFactor < 1 {
		errs = append(errs, config.Errorf("replication_factor", "must be at least 1"))
	}
	if c.Retention < time.Minute {
		errs = append(errs, config.Errorf("retention", "must be at least 1m"))
	}
	if c.RetentionBytes < 1<<20 {
		errs = append(errs, config.Errorf("retention_bytes", "must be at least 1 MiB"))
	}
	if c.MaxMessageBytes < 0 {
		errs = append(errs, config.Errorf("max_message_bytes", "must not be negative"))
	}
	return errors.Join(errs...)
}

// CreateEnabled reports whether missing topics are created.
func (c *TopicsConfig) CreateEnabled() bool { return c.Create == nil || *c.Create }

// Specs returns the creation specs of the topics: spans, logs, dead
// letters and the ledger, in that order.
func (c *TopicsConfig) Specs() []TopicSpec {
	mk := func(name string) TopicSpec {
		return TopicSpec{Name: name, Partitions: c.Partitions, ReplicationFactor: c.ReplicationFactor,
			Retention: c.Retention, RetentionBytes: int64(c.RetentionBytes), MaxMessageBytes: int(c.MaxMessageBytes)}
	}
	return []TopicSpec{mk(c.Spans), mk(c.Logs), mk(c.DeadLetter), mk(c.Ledger)}
}

func validTopicName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if len(s) > 249 {
		return errors.New("longer than 249 characters")
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%q is not a valid topic name", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q: only ASCII letters, digits, '.', '_' and '-' are allowed", s)
		}
	}
	return nil
}

// TopicSpec is one topic to create. Retention and RetentionBytes are always
// set explicitly: some brokers (kfake) only enforce retention on topics that
// carry explicit settings.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	Retention         time.Duration
	RetentionBytes    int64
	MaxMessageBytes   int
}

// ConfigEntries returns the topic-level configs of the spec.
func (s TopicSpec) ConfigEntries() map[string]string {
	m := map[string]string{
		"retention.ms":    strconv.FormatInt(s.Retention.Milliseconds(), 10),
		"retention.bytes": strconv.FormatInt(s.RetentionBytes, 10),
	}
	if s.MaxMessageBytes > 0 {
		m["max.message.bytes"] = strconv.Itoa(s.MaxMessageBytes)
	}
	return m
}

// EnsureTopics creates the topics in specs that the cluster does not have yet.
// Existing topics are left as they are (their partition count is not
// changed). When the broker refuses, the error says which topic, why and what
// to change.
func EnsureTopics(ctx context.Context, client *kafka.Client, specs []TopicSpec) error {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("list kafka topics at %v: %w", client.Addr, err)
	}
	have := make(map[string]bool, len(meta.Topics))
	for _, t := range meta.Topics {
		if t.Error == nil {
			have[t.Name] = true
		}
	}
	var missing []kafka.TopicConfig
	byName := map[string]TopicSpec{}
	for _, s := range specs {
		if have[s.Name] {
			continue
		}
		byName[s.Name] = s
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor}
		for k, v := range s.ConfigEntries() {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		missing = append(missing, tc)
	}
	if len(missing) == 0 {
		return nil
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: missing})
	if err != nil {
		return fmt.Errorf("create kafka topics: %w", err)
	}
	var errs []error
	for name, e := range resp.Errors {
		if e == nil || errors.Is(e, kafka.TopicAlreadyExists) {
			continue
		}
		errs = append(errs, explainCreateError(byName[name], e, len(meta.Brokers)))
	}
	return errors.Join(errs...)
}

func explainCreateError(s TopicSpec, err error, brokers int) error {
	var hint string
	switch {
	case errors.Is(err, kafka.InvalidReplicationFactor):
		hint = fmt.Sprintf("replication factor %d is more than the %d broker(s) of the cluster: lower topics.replication_factor", s.ReplicationFactor, brokers)
	case errors.Is(err, kafka.InvalidPartitionNumber):
		hint = fmt.Sprintf("%d partitions refused: change topics.partitions", s.Partitions)
	case errors.Is(err, kafka.TopicAuthorizationFailed), errors.Is(err, kafka.ClusterAuthorizationFailed):
		hint = "the client is not allowed to create topics: grant it CREATE on the topic (ACL), or create the topic by hand and set topics.create: false"
	case errors.Is(err, kafka.PolicyViolation), errors.Is(err, kafka.InvalidConfiguration):
		hint = fmt.Sprintf("the broker's policy refused configs %v: adjust topics.retention / retention_bytes / max_message_bytes or create the topic by hand", s.ConfigEntries())
	case errors.Is(err, kafka.InvalidTopic):
		hint = "the broker refused the topic name"
	default:
		hint = "the broker refused"
	}
	return fmt.Errorf("create kafka topic %q (%d partitions, replication %d): %s: %w", s.Name, s.Partitions, s.ReplicationFactor, hint, err)
}
