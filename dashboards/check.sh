#!/usr/bin/env bash
# Syntax check of every dashboard query: TestWriteRuleFile writes the queries,
# Grafana variables filled in, as recording rules, and promtool parses them.
# The metric names are checked by `go test ./dashboards`.
# Needs go and promtool 3.x: PROMTOOL, else GOBIN or GOPATH/bin, else PATH
# (deploy/prometheus/install-prometheus3.sh installs it), the PromQL parser
# of the Prometheus the dashboards are tested against.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=../deploy/prometheus/prometheus3.sh
source deploy/prometheus/prometheus3.sh
promtool=$(prometheus3_find promtool PROMTOOL) || exit 1
echo "check.sh: promtool $(prometheus3_version "$promtool") ($promtool)"

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
rules="$workdir/dashboard_queries.rules.yml"

VEEAM_EM_DASHBOARD_RULES="$rules" go test -count=1 -run '^TestWriteRuleFile$' ./dashboards
if ! "$promtool" check rules "$rules"; then
  echo "check.sh: a dashboard query is not valid PromQL; the rule file was:" >&2
  cat -n "$rules" >&2
  exit 1
fi
echo "check.sh: $(grep -c '^      - record:' "$rules") dashboard queries are valid PromQL"
