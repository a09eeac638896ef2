package collector

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/veeam-em-exporter/veeam_em_exporter/veeam"
)

// logoffTimeout bounds a logoff on its own, so that an unreachable EM, or
// scrapes that used up the shutdown timeout, cannot leave the session open
// on EM until it expires nor hold up the shutdown.
const logoffTimeout = 5 * time.Second

// Retire ends c and the EM session of the client that feeds it: the refresh
// under way is cancelled first, so that nothing logs on again, then the
// session is logged off and the client's idle connections closed.
func Retire(c *Collector, client *veeam.Client, logger log.Logger) {
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), logoffTimeout)
	defer cancel()
	logoffs := client.Stats().Logoffs
	if err := client.Logoff(ctx); err != nil {
		level.Warn(logger).Log("msg", "Logoff from Enterprise Manager failed", "err", err)
	} else if client.Stats().Logoffs > logoffs {
		level.Info(logger).Log("msg", "Logged off from Enterprise Manager")
	}
	client.Close()
}
