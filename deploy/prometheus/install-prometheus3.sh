#!/usr/bin/env bash
# Installs Prometheus 3 (prometheus and promtool) with `go install` into GOBIN,
# or GOPATH/bin, unless the ones there are already built from the pinned
# module version. Silent on success, so that other scripts can call it; on
# failure prints go's output and exits 1. A cold build takes about five
# minutes; CI should cache GOPATH/bin (and the Go build cache).
#
#   bash deploy/prometheus/install-prometheus3.sh
#   "$(go env GOPATH)"/bin/prometheus --version
#
# The check scripts find these binaries through deploy/prometheus/prometheus3.sh.
set -euo pipefail

# Prometheus 3.16.0; Prometheus 3.x.y is released as module version v0.3xx.y.
readonly module=github.com/prometheus/prometheus
readonly version=v0.316.0
# Only the service discoveries the example configurations use (static
# targets, file, http and Kubernetes): the cloud providers' SDKs are most of a
# full build, which takes three times as long cold.
readonly tags=remove_all_sd,enable_kubernetes_sd

export GOTOOLCHAIN=local
gobin=$(go env GOBIN)
[[ -n $gobin ]] || gobin="$(go env GOPATH)/bin"

missing=()
for tool in prometheus promtool; do
  installed=""
  if [[ -x $gobin/$tool ]]; then
    installed=$(go version -m "$gobin/$tool" 2>/dev/null |
      awk -v m="$module" '$1 == "mod" && $2 == m { v = $3 } $1 == "build" && $2 ~ /^-tags=/ { t = substr($2, 7) } END { print v, t }')
  fi
  [[ $installed == "$version $tags" ]] || missing+=("$module/cmd/$tool@$version")
done
((${#missing[@]} > 0)) || exit 0

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! GOBIN=$gobin go install -tags "$tags" "${missing[@]}" >"$log" 2>&1; then
  echo "FAIL: go install ${missing[*]}" >&2
  cat "$log" >&2
  exit 1
fi
