package collector

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultTimeout bounds a refresh when Prometheus sends no scrape timeout and
// HandlerOptions.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// scrapeTimeoutHeader is how Prometheus tells a target its scrape timeout.
const scrapeTimeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Timeout bounds a refresh when the scrape carries no usable timeout
	// header. Zero means DefaultTimeout.
	Timeout time.Duration
	// TimeoutOffset is subtracted from Prometheus's scrape timeout, leaving
	// time to encode and send the metrics.
	TimeoutOffset time.Duration
	// Logger receives a debug line when a scrape serves stale state; nil
	// discards. The refresh itself logs its failure.
	Logger log.Logger
	// ErrorLog receives promhttp's errors.
	ErrorLog promhttp.Logger
}

// NewHandler serves the metrics of c and g after refreshing c within the
// scrape's deadline. The answer is 200 even when the refresh fails: the
// metrics then show the last good state with veeam_em_up 0, which is more
// useful to alert on than a failed scrape.
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
		if err := c.Refresh(ctx); err != nil {
			level.Debug(opts.Logger).Log("msg", "serving the state of the last successful refresh", "err", err)
		}
		metrics.ServeHTTP(w, r)
	})
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
