package plugin_test

import (
	"reflect"
	"testing"

	"github.com/flowlens/flowlens/dashboards/plugin"
	"github.com/flowlens/flowlens/dashboards/plugin/querymodel"
	"github.com/flowlens/flowlens/internal/flowmodel"
)

// The query model names the connection types as storage stores them.
func TestQueryModelMatchesStorage(t *testing.T) {
	want := []string{"unset", flowmodel.ConnectionMessaging, flowmodel.ConnectionDatabase, flowmodel.ConnectionVirtual}
	if !reflect.DeepEqual(querymodel.ConnectionTypes, want) {
		t.Errorf("connection types %v, storage has %v", querymodel.ConnectionTypes, want)
	}
	if plugin.ID != "flowlens-flowlens-datasource" {
		t.Errorf("plugin ID %s", plugin.ID)
	}
}
