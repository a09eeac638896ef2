#!/usr/bin/env bash
# Asserts which receiver the example Alertmanager configuration picks for a
# few alerts, with amtool's offline route tester. Silent when every route is
# as expected; names each mismatch and exits 1 otherwise.
set -euo pipefail

config="$(dirname "$0")/alertmanager.yml"
mismatches=0

# expect RECEIVER LABEL=VALUE...
# amtool's stderr is only shown on failure: it also warns that --config.file
# overrides --alertmanager.url, which is the point here.
expect() {
  local want=$1 got errors
  shift
  errors=$(mktemp)
  if ! got=$(amtool config routes test --config.file="$config" "$@" 2>"$errors"); then
    echo "amtool failed for {$*}: $(cat "$errors")" >&2
    rm -f "$errors"
    mismatches=$((mismatches + 1))
    return
  fi
  rm -f "$errors"
  if [[ "$got" != "$want" ]]; then
    echo "route of {$*}: got '$got', want '$want'" >&2
    mismatches=$((mismatches + 1))
  fi
}

vm_labels=(job=veeam_em instance=exporter:9724 backup_server=vbr01.corp.local 'job_name=Replication Job 4' vm=dc01)
backup_vm_labels=(job=veeam_em instance=exporter:9724 backup_server=vbr01.corp.local 'job_name=Backup Job 1' vm=dc01)

expect veeam-pager alertname=VeeamEMReplicaTaskFailed severity=critical result=Failed "${vm_labels[@]}"
expect veeam-pager alertname=VeeamEMReplicaRPOBreached severity=critical "${vm_labels[@]}"
expect veeam-pager alertname=VeeamEMExporterDown severity=critical job=veeam_em instance=exporter:9724
expect veeam-pager alertname=VeeamEMUnreachable severity=critical job=veeam_em instance=exporter:9724
expect veeam-pager alertname=VeeamEMCredentialsRejected severity=critical job=veeam_em instance=exporter:9724
expect veeam-chat alertname=VeeamEMReplicaTaskWarning severity=warning result=Warning "${vm_labels[@]}"
expect veeam-chat alertname=VeeamEMReplicaJobFailed severity=warning job=veeam_em instance=exporter:9724 \
  backup_server=vbr01.corp.local 'job_name=Replication Job 4' result=Failed
expect veeam-chat alertname=VeeamEMRefreshSlow severity=warning job=veeam_em instance=exporter:9724
expect veeam-pager alertname=VeeamEMCollectorFailing severity=critical job=veeam_em instance=exporter:9724 collector=backup
expect veeam-pager alertname=VeeamEMBackupTaskFailed severity=critical result=Failed "${backup_vm_labels[@]}"
expect veeam-pager alertname=VeeamEMBackupRPOBreached severity=critical "${backup_vm_labels[@]}"
expect veeam-chat alertname=VeeamEMBackupTaskWarning severity=warning result=Warning "${backup_vm_labels[@]}"
expect veeam-chat alertname=VeeamEMBackupTaskRunningTooLong severity=warning "${backup_vm_labels[@]}"
expect veeam-chat alertname=VeeamEMBackupJobFailed severity=warning job=veeam_em instance=exporter:9724 \
  backup_server=vbr01.corp.local 'job_name=Backup Job 1' job_type=Backup result=Failed
expect veeam-chat alertname=VeeamEMBackupJobNotRunning severity=warning job=veeam_em instance=exporter:9724 \
  backup_server=vbr01.corp.local 'job_name=Offsite copy' job_type=BackupCopy
# The estate: a repository almost full pages, everything else is a ticket.
repo_labels=(job=veeam_em instance=exporter:9724 backup_server=vbr01.corp.local 'repository=\\nas01\veeam$')
job_labels=(job=veeam_em instance=exporter:9724 backup_server=vbr01.corp.local job_type=Backup platform=VMware)
expect veeam-pager alertname=VeeamEMRepositorySpaceCritical severity=critical "${repo_labels[@]}"
expect veeam-chat alertname=VeeamEMRepositorySpaceLow severity=warning "${repo_labels[@]}"
expect veeam-chat alertname=VeeamEMRepositoryFillingUp severity=warning "${repo_labels[@]}"
expect veeam-chat alertname=VeeamEMJobScheduleDisabled severity=warning "${job_labels[@]}" 'job_name=File Server Backup (retired)'
expect veeam-chat alertname=VeeamEMJobMissedRun severity=warning job=veeam_em instance=exporter:9724 \
  backup_server=vbr01.corp.local 'job_name=Backup Job 1'
expect veeam-chat alertname=VeeamEMJobNeverRan severity=warning "${job_labels[@]}" 'job_name=New Application Backup'
# VM protection: every alert pages.
point_labels=(job=veeam_em instance=exporter:9724 backup_server=vbr01.corp.local 'job_name=Replication Job 4' vm=dc01)
cdp_labels=(job=veeam_em instance=exporter:9724 backup_server=vbr01.corp.local 'job_name=CDP Tier-0' vm=erp01)
expect veeam-pager alertname=VeeamEMReplicaRestorePointTooOld severity=critical "${point_labels[@]}"
expect veeam-pager alertname=VeeamEMReplicaRestorePointsLost severity=critical "${point_labels[@]}"
expect veeam-pager alertname=VeeamEMCDPTaskFailed severity=critical result=Failed "${cdp_labels[@]}"
expect veeam-pager alertname=VeeamEMCDPRPOBreached severity=critical "${cdp_labels[@]}"
expect veeam-pager alertname=VeeamEMVMUnprotected severity=critical job=veeam_em instance=exporter:9724 \
  backup_server=vbr01.corp.local vm=sql001
expect null alertname=VeeamEMSomethingInformational severity=info job=veeam_em
# No severity at all: the root receiver, so nothing is dropped unseen.
expect veeam-chat alertname=SomeOtherAlert

if ((mismatches > 0)); then
  echo "$mismatches route(s) differ from the expected receiver" >&2
  exit 1
fi
