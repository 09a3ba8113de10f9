package alertapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type fixed []Alert

func (f fixed) Alerts() []Alert        { return f }
func (f fixed) InvalidRules() []string { return []string{"r.yml:3:5: bad"} }

func TestHandlerFiltersAndSorts(t *testing.T) {
	now := time.Now()
	src := fixed{
		{Name: "B", State: "resolved", Labels: map[string]string{"alertname": "B"}, ActiveAt: now},
		{Name: "A", State: "pending", Labels: map[string]string{"alertname": "A"}, ActiveAt: now},
		{Name: "C", State: "firing", Labels: map[string]string{"alertname": "C", "service": "x"}, ActiveAt: now},
	}
	srv := httptest.NewServer(Handler(src))
	defer srv.Close()
	d, err := Fetch(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Alerts) != 3 || d.Alerts[0].Name != "C" || d.Alerts[1].Name != "A" || d.Alerts[2].Name != "B" || len(d.InvalidRules) != 1 {
		t.Errorf("%+v", d)
	}
	resp, err := http.Get(srv.URL + Path + "?state=firing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Error(resp.Status)
	}
	resp, _ = http.Post(srv.URL+Path, "application/json", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
	if got := LabelString(map[string]string{"alertname": "C", "b": "2", "a": "1"}); got != `{a="1", b="2"}` {
		t.Error(got)
	}
}
