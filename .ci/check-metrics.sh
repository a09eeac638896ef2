#!/usr/bin/env bash
# Builds the exporter, runs it in demo mode and lints a full scrape with
# promtool 3.x: PROMTOOL, else GOBIN or GOPATH/bin, else PATH (see
# deploy/prometheus/install-prometheus3.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../deploy/prometheus/prometheus3.sh
source deploy/prometheus/prometheus3.sh
promtool=$(prometheus3_find promtool PROMTOOL) || exit 1
echo "promtool $(prometheus3_version "$promtool") ($promtool)"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/veeam_em_exporter" .
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/veeam_em_exporter" --demo --web.listen-address="127.0.0.1:$port" 2>"$work/log" &
pid=$!

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics" || { cat "$work/log"; exit 1; }
grep -q '^veeam_em_up 1$' "$work/metrics" || { echo "veeam_em_up is not 1"; cat "$work/log"; exit 1; }
out=$("$promtool" check metrics <"$work/metrics" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "promtool check metrics: $out"; exit 1; fi
echo "promtool check metrics: clean ($(grep -vc '^#' "$work/metrics") samples)"

for family in veeam_em_up veeam_em_scrape_duration_seconds veeam_em_last_successful_refresh_timestamp_seconds \
  veeam_em_replica_task_last_state veeam_em_replica_task_last_result veeam_em_replica_task_last_start_timestamp_seconds \
  veeam_em_replica_task_last_end_timestamp_seconds veeam_em_replica_task_last_duration_seconds \
  veeam_em_replica_task_last_total_size_bytes veeam_em_replica_task_last_completion_timestamp_seconds \
  veeam_em_replica_task_sessions_total veeam_em_replica_task_duration_seconds veeam_em_replica_job_last_state \
  veeam_em_replica_job_last_result veeam_em_replica_job_sessions_total veeam_em_exporter_build_info \
  veeam_em_logons_total veeam_em_logon_rejections_total veeam_em_logon_backoff_seconds veeam_em_invalid_sessions_total \
  veeam_em_collector_success veeam_em_collector_duration_seconds veeam_em_collector_initial_load_progress_ratio \
  veeam_em_requests_total veeam_em_response_bytes_total veeam_em_retry_after_seconds \
  veeam_em_backup_task_last_state veeam_em_backup_task_last_result veeam_em_backup_task_last_start_timestamp_seconds \
  veeam_em_backup_task_last_end_timestamp_seconds veeam_em_backup_task_last_duration_seconds \
  veeam_em_backup_task_last_total_size_bytes veeam_em_backup_task_last_completion_timestamp_seconds \
  veeam_em_backup_task_sessions_total veeam_em_backup_task_duration_seconds veeam_em_backup_job_last_state \
  veeam_em_backup_job_last_result veeam_em_backup_job_sessions_total \
  veeam_em_collector_last_success_timestamp_seconds veeam_em_repository_capacity_bytes veeam_em_repository_free_bytes \
  veeam_em_repository_info veeam_em_job_info veeam_em_job_schedule_configured veeam_em_job_schedule_enabled \
  veeam_em_job_next_run_timestamp_seconds veeam_em_backup_server_info veeam_em_summary_vms \
  veeam_em_summary_vms_latest_result veeam_em_summary_servers veeam_em_summary_jobs veeam_em_summary_restore_points \
  veeam_em_summary_restore_points_size_bytes veeam_em_summary_source_vms_size_bytes \
  veeam_em_summary_backup_success_ratio veeam_em_summary_job_runs \
  veeam_em_replica_vm_restore_points veeam_em_replica_vm_latest_point_timestamp_seconds \
  veeam_em_replica_vm_oldest_point_timestamp_seconds veeam_em_cdp_policy_info veeam_em_cdp_policy_schedule_enabled \
  veeam_em_cdp_policy_rpo_seconds veeam_em_cdp_policy_last_state veeam_em_cdp_policy_last_result \
  veeam_em_cdp_policy_sessions_total veeam_em_cdp_task_last_state veeam_em_cdp_task_last_result \
  veeam_em_cdp_task_last_end_timestamp_seconds veeam_em_cdp_task_last_completion_timestamp_seconds \
  veeam_em_cdp_task_sessions_total; do
  grep -q "^# TYPE $family " "$work/metrics" || { echo "metric family $family missing"; exit 1; }
done

# The object storage repository (EM's -1) is listed, with no size series.
grep -q '^veeam_em_repository_info{.*kind="AmazonS3Compatible"' "$work/metrics" || { echo "no object storage repository in the demo"; exit 1; }
object=$(sed -n 's/^veeam_em_repository_info{.*kind="AmazonS3Compatible",repository="\([^"]*\)".*/\1/p' "$work/metrics" | head -1)
if grep -E '^veeam_em_repository_(capacity|free)_bytes\{' "$work/metrics" | grep -qF "repository=\"$object\""; then
  echo "a size series for the object storage repository $object, whose size EM does not know"; exit 1
fi

# The demo promises new completed sessions every minute.
sessions() { curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^veeam_em_replica_task_sessions_total\{/ {s += $NF} END {print s}'; }
before=$(sessions)
sleep 61
after=$(sessions)
echo "veeam_em_replica_task_sessions_total: $before, then $after a minute later"
awk -v b="$before" -v a="$after" 'BEGIN {exit !(a > b)}' || { echo "the counter did not rise"; exit 1; }
