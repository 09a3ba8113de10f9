// Package kafkawire is flowlens' Kafka wire format, shared by the agent
// (producer), the collector and flowgraph (consumers):
//
//   - topics otlp_spans and otlp_logs (configurable, TopicsConfig), created
//     with partitions, replication and explicit retention by EnsureTopics;
//   - values in otlp_proto (one ExportTraceServiceRequest /
//     ExportLogsServiceRequest per message) or otlp_json, the OpenTelemetry
//     Collector kafka exporter's encodings, decoded by Decoder;
//   - keys: the lowercase hex trace ID (Encoder with PartitionByTraceID), so
//     with kafka-go's &kafka.Hash{} balancer (Sarama-compatible FNV-1a) all
//     spans of a trace land on one partition from any producer; a CONSUMER
//     span with links is keyed by its first linked trace ID, so it lands
//     with its producer (SpanPartitionID);
//   - dead-letter messages: the original bytes plus headers saying why;
//   - ClientConfig: brokers, TLS and SASL (PLAIN, SCRAM) for kafka-go.
package kafkawire
