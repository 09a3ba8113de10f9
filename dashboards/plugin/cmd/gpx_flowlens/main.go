// Command gpx_flowlens is the backend of flowlens's Grafana data source
// plugin. Grafana starts it (go-plugin handshake, gRPC); it is not meant to
// be run by hand.
package main

import (
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/flowlens/flowlens/dashboards/plugin"
)

func main() {
	if err := datasource.Manage(plugin.ID, plugin.NewDatasource, datasource.ManageOpts{}); err != nil {
		log.DefaultLogger.Error("serve the flowlens data source", "error", err.Error())
		os.Exit(1)
	}
}
