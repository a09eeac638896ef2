package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// shutdownAnswerGrace is how long cancelled scrapes get to send the last
// good state before their connections are closed.
const shutdownAnswerGrace = time.Second

// shutdownServer stops accepting connections and lets scrapes in flight run
// for grace. Scrapes still running then are cancelled, which makes them
// answer with the last good state; connections still open after
// shutdownAnswerGrace are closed.
func shutdownServer(server *http.Server, cancelRequests context.CancelFunc, grace time.Duration, logger log.Logger) {
	graceCtx, cancelGrace := context.WithTimeout(context.Background(), grace)
	defer cancelGrace()
	err := server.Shutdown(graceCtx)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return
	}
	level.Warn(logger).Log("msg", "Scrapes still in flight at the end of the shutdown timeout are cancelled", "err", err)
	cancelRequests()
	answerCtx, cancelAnswer := context.WithTimeout(context.Background(), shutdownAnswerGrace)
	defer cancelAnswer()
	if err := server.Shutdown(answerCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		level.Warn(logger).Log("msg", "Connections still open after cancelling their scrapes are closed", "err", err)
		if err := server.Close(); err != nil {
			level.Warn(logger).Log("msg", "Cannot close the HTTP server", "err", err)
		}
	}
}
