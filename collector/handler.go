package collector

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultTimeout bounds how long a scrape waits for the refresh when
// Prometheus sends no scrape timeout and HandlerOptions.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// scrapeTimeoutHeader is how Prometheus tells a target its scrape timeout.
const scrapeTimeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Timeout bounds how long a scrape waits for the refresh when it
	// carries no usable timeout header. Zero means DefaultTimeout.
	Timeout time.Duration
	// TimeoutOffset is subtracted from Prometheus's scrape timeout, leaving
	// time to encode and send the metrics.
	TimeoutOffset time.Duration
	// Logger receives a line when a scrape serves the last state: why, if
	// the refresh goes on past the scrape; nil discards. The refresh itself
	// logs its failure.
	Logger log.Logger
	// ErrorLog receives promhttp's errors.
	ErrorLog promhttp.Logger
}

// NewHandler serves the metrics of c and g after waiting, up to the
// scrape's deadline, for a refresh of c. The answer is 200 even when the
// refresh fails or goes on past the deadline: the metrics then show the
// last good state with veeam_em_up 0, which is more useful to alert on than
// a failed scrape.
//
// g is meant for the exporter's other metrics (process, Go, build info): c's
// series are served from its cache as built protobuf families, much faster
// than through a registry. A c also registered with g is still served
// correctly and only once, but at the registry's cost.
func NewHandler(c *Collector, g prometheus.Gatherer, opts HandlerOptions) http.Handler {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	metrics := promhttp.HandlerFor(newScrapeGatherer(c, g), promhttp.HandlerOpts{
		ErrorLog:      opts.ErrorLog,
		ErrorHandling: promhttp.ContinueOnError,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), refreshTimeout(r.Header, opts))
		defer cancel()
		logScrapeOutcome(opts.Logger, c.Refresh(ctx))
		metrics.ServeHTTP(w, r)
	})
}

// logScrapeOutcome says, in one line at most, why a scrape serves the last
// state rather than a fresh one. A failed refresh has said why itself.
func logScrapeOutcome(logger log.Logger, err error) {
	var pending *RefreshPendingError
	switch {
	case err == nil:
	case errors.As(err, &pending) && len(pending.Loading) > 0:
		level.Info(logger).Log("msg", "serving the last state while the initial load goes on", "running_for", pending.RunningFor.Round(time.Millisecond),
			"progress", loadProgressText(pending.Loading))
	case errors.As(err, &pending):
		level.Warn(logger).Log("msg", "serving the last state: the refresh did not end within the scrape timeout; it goes on", "running_for", pending.RunningFor.Round(time.Millisecond))
	default:
		level.Debug(logger).Log("msg", "serving the state of the last successful refresh", "err", err)
	}
}

// refreshTimeout is Prometheus's scrape timeout minus the offset, or the
// configured timeout when the header is absent, unusable or leaves no time.
func refreshTimeout(h http.Header, opts HandlerOptions) time.Duration {
	seconds, err := strconv.ParseFloat(h.Get(scrapeTimeoutHeader), 64)
	// The comparison also rejects NaN, and values a Duration cannot hold.
	if err != nil || !(seconds > 0 && seconds < math.MaxInt64/float64(time.Second)) {
		return opts.Timeout
	}
	timeout := time.Duration(seconds*float64(time.Second)) - opts.TimeoutOffset
	if timeout <= 0 {
		return opts.Timeout
	}
	return timeout
}
