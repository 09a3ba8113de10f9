package rulefile

import (
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// Loader loads rule files for Prometheus's rules.Manager (it satisfies
// rules.GroupLoader), compiling shorthands on the way.
//
// Strict makes any diagnostic fail the whole file, as Prometheus does.
// Otherwise the valid rules load and Report receives the diagnostics, so one
// bad rule never stops the others from being evaluated.
type Loader struct {
	Options Options
	Strict  bool
	Report  func(file string, diags Diagnostics) // may be nil; called on every Load
}

// Load implements rules.GroupLoader.
func (l Loader) Load(file string, _ bool, _ model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	groups, diags := LoadFile(file, l.Options)
	if l.Report != nil {
		l.Report(file, diags)
	}
	if l.Strict && len(diags) > 0 {
		errs := make([]error, len(diags))
		for i, d := range diags {
			errs[i] = d
		}
		return nil, errs
	}
	return groups, nil
}

// Parse implements rules.GroupLoader.
func (l Loader) Parse(query string) (parser.Expr, error) {
	p := l.Options.Parser
	if p == nil {
		p = parser.NewParser(parser.Options{})
	}
	return p.ParseExpr(query)
}
