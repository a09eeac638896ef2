#!/usr/bin/env bash
# Syntax check of every dashboard query: TestWriteRuleFile writes the queries,
# Grafana variables filled in, as recording rules, and promtool parses them.
# The metric names are checked by `go test ./dashboards`.
# Needs go and promtool (Debian: apt-get install prometheus); PROMTOOL
# overrides the promtool found on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

promtool="${PROMTOOL:-$(command -v promtool || true)}"
if [ -z "$promtool" ] || [ ! -x "$promtool" ]; then
  echo "check.sh: promtool not found; install Prometheus or set PROMTOOL" >&2
  exit 1
fi

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
