// Package schema checks the dashboards of ../ (veeam_em_exporter's Grafana
// dashboards) against Grafana's own dashboard schema, as the Apache-2.0
// Grafana Foundation SDK decodes it strictly: unknown fields and wrong
// types anywhere the SDK models, panel options and custom field settings
// of each panel type, Prometheus queries, and the units Grafana knows.
//
// It is a module of its own so that the exporter's module does not depend
// on the SDK. Run it from this directory:
//
//	cd dashboards/schema && GOTOOLCHAIN=local go test ./...
//
// The conventions (datasource variable, $__rate_interval, counters, ...)
// and the metric names are checked by the tests of package dashboards in
// the exporter's module.
package schema
