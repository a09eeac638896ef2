package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// newBareLogger has no timestamp or caller: exporter-toolkit's slog bridge
// adds its own caller, and main adds both for its logs.
func newBareLogger(format string) log.Logger {
	w := log.NewSyncWriter(os.Stderr)
	if format == "json" {
		return log.NewJSONLogger(w)
	}
	return log.NewLogfmtLogger(w)
}

func levelOption(name string) level.Option {
	switch name {
	case "debug":
		return level.AllowDebug()
	case "warn":
		return level.AllowWarn()
	case "error":
		return level.AllowError()
	}
	return level.AllowInfo()
}

func slogLevel(name string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(name)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// promhttpLogger sends promhttp's errors to the application logger.
type promhttpLogger struct{ logger log.Logger }

func (l promhttpLogger) Println(v ...any) {
	l.logger.Log("msg", "Error serving metrics", "err", fmt.Sprint(v...))
}
