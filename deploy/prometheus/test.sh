#!/usr/bin/env bash
# Checks the alerting side of the deployment with the real tools: with
# promtool 3.x, the rule files parse without warnings, their unit tests pass
# and every example Prometheus configuration is valid (compose's in the
# layout its container sees); the rules and their tests once more with
# promtool 2.x, since the rule files are meant to stay usable on Prometheus
# 2.x; every alert links to its runbook section; the example Alertmanager
# configuration is valid and routes as intended. Prints the tools' versions
# and one line on success; on failure, a FAIL line, the failing tool's output,
# and exits 1.
#
# promtool 3.x: PROMTOOL, else GOBIN or GOPATH/bin, else PATH (see
# prometheus3.sh; install-prometheus3.sh installs it). promtool 2.x:
# PROMTOOL2, else the first promtool 2.x on PATH (Debian: apt-get install
# prometheus); PROMTOOL2=skip skips that run. amtool from PATH (Debian:
# apt-get install prometheus-alertmanager).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
deploy="$(cd "$here/.." && pwd)"
alertmanager_dir="$deploy/alertmanager"

# shellcheck source=prometheus3.sh
source "$here/prometheus3.sh"
promtool=$(prometheus3_find promtool PROMTOOL) || exit 1
echo "promtool $(prometheus3_version "$promtool") ($promtool)"

promtool2=${PROMTOOL2:-}
if [[ -z $promtool2 ]]; then
  while read -r candidate; do
    if [[ $(prometheus3_version "$candidate") == 2.* ]]; then
      promtool2=$candidate
      break
    fi
  done < <(type -ap promtool)
  [[ -n $promtool2 ]] || {
    echo "FAIL: no promtool 2.x on PATH (apt-get install prometheus), or set PROMTOOL2=skip" >&2
    exit 1
  }
fi
if [[ $promtool2 == skip ]]; then
  echo "promtool 2.x: skipped (PROMTOOL2=skip)"
else
  promtool2=$(command -v "$promtool2") || { echo "FAIL: PROMTOOL2=${PROMTOOL2:-} is not an executable" >&2; exit 1; }
  version2=$(prometheus3_version "$promtool2")
  [[ $version2 == 2.* ]] || { echo "FAIL: $promtool2 is Prometheus ${version2:-of unknown version}, not 2.x" >&2; exit 1; }
  echo "promtool $version2 ($promtool2)"
fi
command -v amtool >/dev/null || { echo "FAIL: amtool not found (apt-get install prometheus-alertmanager)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
output=$work/output

# run DESCRIPTION COMMAND...: runs the command, keeping its output for the
# failure report.
run() {
  local description=$1
  shift
  if ! "$@" >"$output" 2>&1; then
    echo "FAIL: $description" >&2
    cat "$output" >&2
    exit 1
  fi
}

# no_warnings DESCRIPTION: fails if the last run's output mentions a warning.
no_warnings() {
  if grep -v '^Checking ' "$output" | grep -qi 'warn'; then
    echo "FAIL: $1 printed warnings" >&2
    cat "$output" >&2
    exit 1
  fi
}

# Rule files are veeam_em_*.yml and examples/*.yml, tests *_test.yml, example
# Prometheus configurations examples/*.yaml: the globs never overlap.
rule_files=("$here"/veeam_em_*.yml "$here"/examples/*.yml)
test_files=("$here"/*_test.yml)
shopt -s nullglob
config_files=("$here"/examples/*.yaml)
shopt -u nullglob

run "promtool check rules" "$promtool" check rules "${rule_files[@]}"
no_warnings "promtool check rules"
run "promtool test rules" "$promtool" test rules "${test_files[@]}"
if [[ $promtool2 != skip ]]; then
  run "promtool $version2 check rules" "$promtool2" check rules "${rule_files[@]}"
  no_warnings "promtool $version2 check rules"
  run "promtool $version2 test rules" "$promtool2" test rules "${test_files[@]}"
fi

# check_config FILE: promtool check config, which also checks the rule
# files FILE references; each must exist, as a glob that matches nothing
# would load no rules without an error.
checked_rule_files=0
check_config() {
  local config=$1 rel=${1#"$work"/}
  rel=${rel#"$deploy"/}
  run "promtool check config $rel" "$promtool" check config "$config"
  no_warnings "promtool check config $rel"
  if grep -q 'SUCCESS: 0 rule files found' "$output" && grep -qE '^rule_files:' "$config"; then
    echo "FAIL: promtool check config $rel: rule_files: matches no file" >&2
    cat "$output" >&2
    exit 1
  fi
  checked_rule_files=$((checked_rule_files + $(grep -c '^Checking ' "$output") - 1))
}
for config in "${config_files[@]}"; do
  check_config "$config"
done
# Compose mounts its configuration at /etc/prometheus/prometheus.yml and the
# rule files at /etc/prometheus/rules/; rule_files: is relative to the
# configuration. The same layout, outside a container:
mkdir -p "$work/compose/rules"
cp "$deploy/compose/prometheus.yml" "$work/compose/prometheus.yml"
cp "$here"/veeam_em_rules.yml "$here"/veeam_em_alerts.yml "$work/compose/rules/"
check_config "$work/compose/prometheus.yml"
config_files+=("$deploy/compose/prometheus.yml")

# Every alert links to its own runbook section, and that section exists.
runbook="$deploy/RUNBOOK.md"
runbook_base="https://github.com/veeam-em-exporter/veeam_em_exporter/blob/main/deploy/RUNBOOK.md#"
mapfile -t alerts < <(sed -n 's/^ *- alert: *//p' "$here"/veeam_em_alerts.yml)
for alert in "${alerts[@]}"; do
  anchor="${alert,,}"
  if ! grep -qx "## $alert" "$runbook"; then
    echo "FAIL: RUNBOOK.md has no section '## $alert'" >&2
    exit 1
  fi
  if [[ $(grep -c "runbook_url: ${runbook_base}${anchor}\$" "$here"/veeam_em_alerts.yml) != 1 ]]; then
    echo "FAIL: alert $alert needs exactly one runbook_url ${runbook_base}${anchor}" >&2
    exit 1
  fi
done
if [[ $(grep -c 'runbook_url:' "$here"/veeam_em_alerts.yml) != "${#alerts[@]}" ]]; then
  echo "FAIL: not every alert has exactly one runbook_url" >&2
  exit 1
fi

run "amtool check-config" amtool check-config "$alertmanager_dir/alertmanager.yml"
run "alertmanager routes" "$alertmanager_dir/test-routes.sh"

echo "alerting checks OK: ${#rule_files[@]} rule files, ${#test_files[@]} rule test files" \
  "(promtool 3.x$([[ $promtool2 == skip ]] || echo " and $version2")), ${#config_files[@]} Prometheus configurations" \
  "($checked_rule_files rule files referenced), ${#alerts[@]} runbook links, alertmanager config and routes"
