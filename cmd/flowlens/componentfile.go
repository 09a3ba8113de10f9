package main

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/storage"
)

// componentFile is the --config file of a component run on its own
// (flowlens collector, flowlens flowgraph): the component's keys at the
// top level and, as in flowlens up's file, a storage section, so a
// component run against a cluster gets the cluster's DDL, TTLs,
// compression, connections and users, not only an address.
type componentFile[T any] struct {
	Component T              `yaml:",inline"`
	Storage   storage.Config `yaml:"storage"`
}

// SetDefaults fills the component's defaults; the storage section's are
// filled when it is opened, after the flags (an empty addr means the
// embedded engine there).
func (f *componentFile[T]) SetDefaults() {
	if d, ok := any(&f.Component).(config.Defaulter); ok {
		d.SetDefaults()
	}
}

// Validate checks the component and the storage section (with its
// defaults), naming storage mistakes by their key (storage.ttl.traces).
func (f *componentFile[T]) Validate() error {
	var errs []error
	if v, ok := any(&f.Component).(config.Validator); ok {
		errs = append(errs, v.Validate())
	}
	st := f.Storage
	st.SetDefaults()
	errs = append(errs, config.Nest("storage", st.Validate()))
	return errors.Join(errs...)
}

// storageConfig is a storage section with --clickhouse and --database
// laid over it where the user set them, or where the section names none.
func (g *globalFlags) storageConfig(section storage.Config, flags *pflag.FlagSet) storage.Config {
	if flags.Changed("clickhouse") || section.Addr == "" {
		section.Addr = g.ClickHouse
	}
	if flags.Changed("database") || section.Database == "" {
		section.Database = g.Database
	}
	return section
}
