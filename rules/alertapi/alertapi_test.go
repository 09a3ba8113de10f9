package alertapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type fixed []Alert

func (f fixed) Alerts() []Alert        { return f }
func (f fixed) InvalidRules() []string { return []string{"r.yml:3:5: bad"} }

func alertNames(alerts []Alert) string {
	names := make([]string, len(alerts))
	for i, a := range alerts {
		names[i] = a.Name
	}
	return strings.Join(names, " ")
}

func TestHandlerFiltersAndSorts(t *testing.T) {
	now := time.Now()
	src := fixed{
		{Name: "B", State: "resolved", Labels: map[string]string{"alertname": "B"}, ActiveAt: now},
		{Name: "A", State: "pending", Labels: map[string]string{"alertname": "A"}, ActiveAt: now},
		{Name: "C", State: "firing", Labels: map[string]string{"alertname": "C", "service": "x"}, ActiveAt: now},
		{Name: "D", State: "firing", Labels: map[string]string{"alertname": "D"}, ActiveAt: now},
	}
	srv := httptest.NewServer(Handler(src))
	defer srv.Close()
	d, err := Fetch(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if names := alertNames(d.Alerts); names != "C D A B" || len(d.InvalidRules) != 1 {
		t.Errorf("alerts %s, want firing, pending, resolved: %+v", names, d)
	}
	resp, err := http.Get(srv.URL + Path + "?state=firing")
	if err != nil {
		t.Fatal(err)
	}
	var firing Response
	err = json.NewDecoder(resp.Body).Decode(&firing)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("?state=firing: %s %v", resp.Status, err)
	}
	if names := alertNames(firing.Data.Alerts); firing.Status != "success" || names != "C D" {
		t.Errorf("?state=firing: %s %q, want the firing C and D only", firing.Status, names)
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
