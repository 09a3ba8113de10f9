package wiretest

import "testing"

// The shapes are what benchmark names claim: count the distinct values.
func TestShapes(t *testing.T) {
	const n, perTrace = 4000, 5
	for _, tc := range []struct {
		shape                                        Shape
		name                                         string
		services, spanNames, agents, paths, sessions int
	}{
		{Repeated, "services=6/strings=repeated", 6, 6, 1, 6, 0},
		{ManyUnique, "services=200/strings=unique", 200, 1200, n, n, n / perTrace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.shape.String(); got != tc.name {
				t.Fatalf("named %q", got)
			}
			distinct := map[string]map[string]bool{}
			add := func(k, v string) {
				if distinct[k] == nil {
					distinct[k] = map[string]bool{}
				}
				distinct[k][v] = true
			}
			td := ShapedTraces(0, n, perTrace, tc.shape)
			if td.SpanCount() != n {
				t.Fatalf("%d spans", td.SpanCount())
			}
			for _, rs := range td.ResourceSpans().All() {
				svc, _ := rs.Resource().Attributes().Get("service.name")
				add("service", svc.Str())
				for _, ss := range rs.ScopeSpans().All() {
					for _, s := range ss.Spans().All() {
						add("name", s.Name())
						for _, k := range []string{"user_agent.original", "url.path", "session.id"} {
							if v, ok := s.Attributes().Get(k); ok {
								add(k, v.Str())
							}
						}
					}
				}
			}
			for k, want := range map[string]int{"service": tc.services, "name": tc.spanNames, "user_agent.original": tc.agents,
				"url.path": tc.paths, "session.id": tc.sessions} {
				if got := len(distinct[k]); got != want {
					t.Errorf("%d distinct %s, want %d", got, k, want)
				}
			}
		})
	}
}
