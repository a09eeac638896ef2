// Package dashboards holds the Grafana dashboards of veeam_em_exporter as
// plain JSON files, ready to import or provision, and the tests that keep
// them honest: every query may only use metrics the exporter really produces
// or the recording rules of deploy/prometheus record, and check.sh has
// promtool parse every expression.
package dashboards
