#!/usr/bin/env bash
# Checks the alerting side of the deployment with the real tools: the rule
# files parse without warnings, their unit tests pass, and the example
# Alertmanager configuration is valid and routes as intended. Prints one
# line on success; on failure, the failing tool's output, and exits 1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
alertmanager_dir="$here/../alertmanager"

for tool in promtool amtool; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install prometheus prometheus-alertmanager)" >&2; exit 1; }
done

output=$(mktemp)
trap 'rm -f "$output"' EXIT

# run DESCRIPTION COMMAND...: runs the command, keeping its output for the
# failure report.
run() {
  local description=$1
  shift
  if ! "$@" >"$output" 2>&1; then
    echo "FAILED: $description" >&2
    cat "$output" >&2
    exit 1
  fi
}

# Rule files are veeam_em_*.yml, tests *_test.yml: the two globs never overlap.
rule_files=("$here"/veeam_em_*.yml "$here"/examples/*.yml)
test_files=("$here"/*_test.yml)

run "promtool check rules" promtool check rules "${rule_files[@]}"
if grep -v '^Checking ' "$output" | grep -qi 'warn'; then
  echo "FAILED: promtool check rules printed warnings" >&2
  cat "$output" >&2
  exit 1
fi
run "promtool test rules" promtool test rules "${test_files[@]}"
# Every alert links to its own runbook section, and that section exists.
runbook="$here/../RUNBOOK.md"
runbook_base="https://github.com/veeam-em-exporter/veeam_em_exporter/blob/main/deploy/RUNBOOK.md#"
mapfile -t alerts < <(sed -n 's/^ *- alert: *//p' "$here"/veeam_em_alerts.yml)
for alert in "${alerts[@]}"; do
  anchor="${alert,,}"
  if ! grep -qx "## $alert" "$runbook"; then
    echo "FAILED: RUNBOOK.md has no section '## $alert'" >&2
    exit 1
  fi
  if [[ $(grep -c "runbook_url: ${runbook_base}${anchor}\$" "$here"/veeam_em_alerts.yml) != 1 ]]; then
    echo "FAILED: alert $alert needs exactly one runbook_url ${runbook_base}${anchor}" >&2
    exit 1
  fi
done
if [[ $(grep -c 'runbook_url:' "$here"/veeam_em_alerts.yml) != "${#alerts[@]}" ]]; then
  echo "FAILED: not every alert has exactly one runbook_url" >&2
  exit 1
fi

run "amtool check-config" amtool check-config "$alertmanager_dir/alertmanager.yml"
run "alertmanager routes" "$alertmanager_dir/test-routes.sh"

echo "alerting checks OK: ${#rule_files[@]} rule files, ${#test_files[@]} rule test files, ${#alerts[@]} runbook links, alertmanager config and routes"
