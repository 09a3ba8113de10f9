package collector

import "github.com/segmentio/kafka-go"

// SetReadHook makes c call f with every message it has decoded into a
// batch, before the message counts as read: a test's way to make reading a
// chosen message panic.
func SetReadHook(c *Collector, f func(kafka.Message)) { c.readHook = f }
