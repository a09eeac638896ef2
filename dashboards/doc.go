// Package dashboards holds the Grafana dashboards of veeam_em_exporter as
// plain JSON files, ready to import or provision, and the tests that keep
// them honest: every query may only use metrics the exporter really produces
// or the recording rules of deploy/prometheus record, and check.sh has
// promtool parse every expression.
//
// The tests also hold the dashboards to the conventions of Grafana's
// dashboard-linter, and the alerts of deploy/prometheus/veeam_em_alerts.yml
// to those of the monitoring mixins' linter (mixtool lint); neither tool can
// be fetched here, so their rules are written as tests (conventions_test.go,
// alerts_test.go). Every panel but rows has a title, a description, a unit
// and the datasource ${datasource}, as has every query; text panels, which
// show no values, need no unit or datasource. rate(), irate() and increase()
// read $__rate_interval (increase() may read $__range in an instant query;
// fixedWindows lists the one other exception and why). Counters, the
// exporter's _total families and its histograms' series, appear only inside
// rate(), irate(), increase() or resets(), in the dashboards and in the rule
// files. Query variables refresh on time range change, and the only
// datasource variable is labelled "Data source". Alerts are CamelCase, have
// a severity of critical, warning or info, a summary that is one sentence
// without templates, a description with them, and a runbook_url to the
// section of deploy/RUNBOOK.md named after the alert, by the anchor GitHub
// gives it. Each rule has a test that plants a violation in a copy of the
// real file and expects it to be named. Run them with
//
//	go test ./dashboards/
//
// The nested module dashboards/schema (its own go.mod, so the exporter does
// not depend on Grafana's SDK) decodes each dashboard strictly with the
// Apache-2.0 Grafana Foundation SDK: unknown fields and wrong types fail,
// including in panel options, field config and units, and in Prometheus
// queries. Run it with
//
//	cd dashboards/schema && GOTOOLCHAIN=local go test ./...
package dashboards
