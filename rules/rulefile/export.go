package rulefile

import (
	"bytes"
	"fmt"

	"github.com/prometheus/prometheus/model/rulefmt"
	"go.yaml.in/yaml/v3"
)

// Export writes groups as a plain Prometheus rule file, loadable by
// Prometheus, Mimir or Thanos (and by promtool check rules).
func Export(groups *rulefmt.RuleGroups) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(groups); err != nil {
		return nil, fmt.Errorf("encode rule groups: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode rule groups: %w", err)
	}
	return buf.Bytes(), nil
}
