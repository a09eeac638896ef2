package main

import (
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// renamedDuration is a duration flag that was renamed: the old name, and
// its environment variable, still work as a hidden alias that logs a
// warning, so that existing command lines and unit files keep running.
type renamedDuration struct {
	newName, oldName string
	value            *time.Duration
	newSetOnCommand  bool
	old              aliasValue
}

// aliasValue records whether kingpin set the old flag, from the command
// line or its environment variable: it has no default, so kingpin only
// calls Set for what the user gave.
type aliasValue struct {
	value time.Duration
	set   bool
}

func (a *aliasValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	a.value, a.set = d, true
	return nil
}

func (a *aliasValue) String() string { return a.value.String() }

// addRenamedDuration defines --newName with its default and help, and
// --oldName as its hidden alias.
func addRenamedDuration(app *kingpin.Application, newName, oldName, help, defaultValue string) *renamedDuration {
	r := &renamedDuration{newName: newName, oldName: oldName}
	r.value = app.Flag(newName, help).Default(defaultValue).IsSetByUser(&r.newSetOnCommand).Duration()
	app.Flag(oldName, "Deprecated: use --"+newName+".").Hidden().SetValue(&r.old)
	return r
}

// resolve applies the old name when the user gave it and not the new one,
// and warns either way. Call it after kingpin.Parse and addEnvars.
func (r *renamedDuration) resolve(app *kingpin.Application, logger log.Logger) time.Duration {
	if !r.old.set {
		return *r.value
	}
	newSet := r.newSetOnCommand || os.Getenv(app.GetFlag(r.newName).Model().Envar) != ""
	if newSet {
		level.Warn(logger).Log("msg", "Deprecated flag ignored: the new one is set too", "deprecated", "--"+r.oldName, "use", "--"+r.newName)
		return *r.value
	}
	level.Warn(logger).Log("msg", "Deprecated flag: it still works but will be removed", "deprecated", "--"+r.oldName, "use", "--"+r.newName,
		"environment", envPrefix+envName(r.newName))
	*r.value = r.old.value
	return *r.value
}
