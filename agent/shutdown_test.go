package agent_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/embedded/kafkabroker"
	"github.com/flowlens/flowlens/internal/kafkatest"
	"github.com/flowlens/flowlens/internal/kafkawire"
)

// Lines written just before a shutdown (Ctrl-C of the demo) are in Kafka
// when the agent has stopped, not only after its next start: the readers
// read their files to the end, a file that appeared since the last scan
// included, and the forwarder sends what the buffer holds before stopping.
func TestShutdownShipsTheLastLines(t *testing.T) {
	b := kafkatest.Start(t, kafkabroker.Config{})
	defer b.Shutdown(context.Background())
	logs := t.TempDir()
	// Without the shutdown's last read, nothing written after the first
	// read of a file would be read before the next start: the agent
	// neither polls the files nor scans for new ones within the test, nor
	// is told of changes.
	cfg := loadConfig(t, t.TempDir(), b.Addrs(), fmt.Sprintf(`
files:
  - name: app
    include: [%s/*.log]
    watch: false
    scan_interval: 1h
    poll_interval: 1h
    parse: {format: json}
`, logs))
	app := filepath.Join(logs, "app.log")
	appendJSONLines(t, app, 0, 1000)
	r := startAgent(t, cfg)
	c := newConsumed()
	broker := b.Addrs()[0]
	c.waitFor(t, broker, kafkawire.DefaultLogsTopic, 30*time.Second, func(c *consumed) bool { return c.logRecords >= 1000 })

	appendJSONLines(t, app, 1000, 1500)
	appendJSONLines(t, filepath.Join(logs, "new.log"), 1500, 1600)
	r.stop(t)

	c.poll(t, broker, kafkawire.DefaultLogsTopic)
	exactlyOnce(t, c, 1600)
}
