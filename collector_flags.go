package main

import (
	"errors"

	"github.com/alecthomas/kingpin/v2"

	"github.com/veeam-em-exporter/veeam_em_exporter/collector"
)

// collectorFlags are the --collector.<name> switches, one per collector,
// all on by default.
type collectorFlags struct {
	kinds []collector.Kind
	on    []*bool
}

func addCollectorFlags(app *kingpin.Application) *collectorFlags {
	f := &collectorFlags{kinds: collector.Kinds()}
	for _, k := range f.kinds {
		f.on = append(f.on, app.Flag("collector."+string(k), collector.FlagHelp(k)).Default("true").Bool())
	}
	return f
}

// enabled are the collectors switched on; at least one must be.
func (f *collectorFlags) enabled() ([]collector.Kind, error) {
	var kinds []collector.Kind
	for i, k := range f.kinds {
		if *f.on[i] {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return nil, errors.New("the --no-collector.* flags leave no collector enabled")
	}
	return kinds, nil
}
