#!/usr/bin/env bash
# Checks deploy/docker-compose.yml without a container runtime:
#   1. the Compose specification's reference loader (compose-go, in
#      deploy/check/compose) loads it with schema validation, so unknown keys
#      fail; bind-mount sources exist; images are pinned; Grafana's
#      provisioning files decode strictly (its own tests run first, and show
#      that an unknown key or an unpinned image fails);
#   2. the loader copies every bind mount to where its container sees it, and
#      each configuration is checked there by its own tool: Prometheus's with
#      promtool 3.x check config (which checks the rule files it references
#      under /etc/prometheus/rules), Alertmanager's with amtool check-config.
# There is no Grafana server here: its provisioning files are only decoded
# and cross-checked against the Compose file by the loader (step 1).
#
# Needs go, promtool 3.x (PROMTOOL, else GOBIN or GOPATH/bin, else PATH; see
# deploy/prometheus/install-prometheus3.sh) and amtool (Debian:
# prometheus-alertmanager). Prints one line per step; on failure a FAIL line
# with the tool's output, and exits 1.
#
# Usage: bash deploy/compose/check.sh [docker-compose.yml]
set -euo pipefail

deploy="$(cd "$(dirname "$0")/.." && pwd)"
checker="$deploy/check/compose"
compose_file=$(realpath "${1:-$deploy/docker-compose.yml}")
export GOTOOLCHAIN=local

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# shellcheck source=../prometheus/prometheus3.sh
source "$deploy/prometheus/prometheus3.sh"
promtool=$(prometheus3_find promtool PROMTOOL) || exit 1
command -v amtool >/dev/null || fail "amtool not found (apt-get install prometheus-alertmanager)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
output=$work/output

# run DESCRIPTION COMMAND...: runs the command; on failure prints its output.
run() {
  local description=$1
  shift
  if ! "$@" >"$output" 2>&1; then
    cat "$output" >&2
    fail "$description"
  fi
}

run "compose checker: go vet" bash -c "cd '$checker' && go vet ./..."
run "compose checker: its tests" bash -c "cd '$checker' && go test -count=1 ./..."
echo "compose checker tests: ok (unknown keys, unpinned images, missing mounts, provisioning typos fail)"
run "compose checker: build" bash -c "cd '$checker' && go build -o '$work/composecheck' ."

# The checker prints its own FAIL lines.
if ! "$work/composecheck" -layout "$work/layout" "$compose_file" >"$output" 2>&1; then
  cat "$output" >&2
  fail "compose-go rejects $compose_file"
fi
cat "$output"

prometheus_config=$work/layout/prometheus/etc/prometheus/prometheus.yml
[[ -f $prometheus_config ]] || fail "no service mounts a file at /etc/prometheus/prometheus.yml"
run "promtool check config (Prometheus service, as mounted)" "$promtool" check config "$prometheus_config"
if grep -v '^Checking ' "$output" | grep -qi 'warn'; then
  cat "$output" >&2
  fail "promtool check config printed warnings"
fi
rule_files=$(grep -c '^Checking .*/rules/' "$output" || true)
((rule_files > 0)) || { cat "$output" >&2; fail "promtool checked no rule file under /etc/prometheus/rules"; }
echo "Prometheus configuration: valid for promtool $(prometheus3_version "$promtool"), $rule_files rule files as mounted"

alertmanager_config=$work/layout/alertmanager/etc/alertmanager/alertmanager.yml
[[ -f $alertmanager_config ]] || fail "no service mounts a file at /etc/alertmanager/alertmanager.yml"
run "amtool check-config (Alertmanager service, as mounted)" amtool check-config "$alertmanager_config"
echo "Alertmanager configuration: valid for $(amtool --version 2>&1 | head -1 | sed 's/ (.*//')"

echo "Grafana provisioning: decoded by the compose checker only; no Grafana server runs here"
echo "compose checks OK"
