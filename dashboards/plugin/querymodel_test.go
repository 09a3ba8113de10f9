package plugin_test

import (
	"reflect"
	"testing"

	"github.com/flowlens/flowlens/dashboards/plugin"
	"github.com/flowlens/flowlens/dashboards/plugin/querymodel"
)

// The query model names the connection types as dashboards and users
// write them.
func TestQueryModelNamesConnectionTypes(t *testing.T) {
	want := []string{"unset", "messaging_system", "database", "virtual_node"}
	if !reflect.DeepEqual(querymodel.ConnectionTypes, want) {
		t.Errorf("connection types %v, want %v", querymodel.ConnectionTypes, want)
	}
	if plugin.ID != "flowlens-flowlens-datasource" {
		t.Errorf("plugin ID %s", plugin.ID)
	}
}
