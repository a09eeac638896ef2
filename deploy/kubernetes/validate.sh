#!/usr/bin/env bash
# Validates the Kubernetes manifests for real, without a cluster or kubectl:
#
#  1. installs what it needs when missing: Debian's etcd-server (apt-get), a
#     kube-apiserver built from the pinned module in
#     deploy/check/kubernetes/apiserver/ (7 to 15 min the first time), and the
#     checker in deploy/check/kubernetes/ (renders the kustomizations with
#     the kustomize Go library); both binaries are cached under
#     $(go env GOPATH)/cache/veeam_em_exporter-kubernetes and rebuilt when
#     their pinned versions change;
#  2. starts etcd and kube-apiserver on 127.0.0.1 in a temporary directory;
#  3. creates the Prometheus Operator CRDs the manifests use, from
#     github.com/prometheus-operator/prometheus-operator@v0.85.0;
#  4. submits every object of deploy/kubernetes and deploy/kubernetes/sharded
#     as a server-side dry run with strict field validation: an unknown or
#     misspelt field, a wrong type or an invalid value fails, with the API
#     server's message;
#  5. checks the manifests against the exporter built from this checkout:
#     flags in args and VEEAM_EXPORTER_* variables exist, the container port
#     is the listen port, and the probe and ServiceMonitor paths answer 200
#     from the binary started as the container would start it; and that
#     deploy/prometheus/examples/prometheus_sharded.yaml addresses exactly the
#     StatefulSet's pods.
#
# Usage: bash deploy/kubernetes/validate.sh   (exit 0: valid; 1: see FAIL lines)
#        bash deploy/kubernetes/validate.sh --prepare   (step 1 only: CI builds
#        the tools beside its other steps)
set -euo pipefail
prepare_only=false
[ "${1:-}" = --prepare ] && prepare_only=true
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
cd "$(dirname "$0")/../.."
repo=$PWD

kustomizations=(deploy/kubernetes deploy/kubernetes/sharded)
sharded_prometheus=deploy/prometheus/examples/prometheus_sharded.yaml
operator_module=github.com/prometheus-operator/prometheus-operator@v0.85.0
apiserver_module=deploy/check/kubernetes/apiserver
checker_module=deploy/check/kubernetes
cache="${K8S_VALIDATE_CACHE:-$(go env GOPATH)/cache/veeam_em_exporter-kubernetes}"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { printf '\n--- %s\n' "$*"; }
started=$SECONDS

tmp=$(mktemp -d)
etcd_pid="" apiserver_pid=""

# Stops a process this script started: SIGTERM, then SIGKILL after 20 s.
stop() {
  local pid=$1 name=$2
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.2
  done
  echo "$name did not stop within 20 s of SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  # The API server first: stopped after etcd, its shutdown hangs.
  stop "$apiserver_pid" kube-apiserver
  stop "$etcd_pid" etcd
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints the last lines of a log and fails.
fail_with_log() {
  local log=$1
  shift
  echo "--- last lines of $(basename "$log"):" >&2
  tail -n 30 "$log" >&2 || true
  fail "$@"
}

step "tools (cache: $cache)"
mkdir -p "$cache"

if ! command -v etcd >/dev/null; then
  echo "etcd: installing Debian's etcd-server"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || fail "etcd is missing, and installing Debian's etcd-server needs root (or sudo)"
    sudo=sudo
  fi
  $sudo apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends etcd-server >/dev/null ||
    fail "apt-get install etcd-server failed"
  command -v etcd >/dev/null || fail "etcd-server installed, but no etcd on PATH"
fi
echo "etcd: $(etcd --version | head -n 1)"

# Cached builds: a binary is reused only while the stamp next to it (a hash
# of what it is built from) matches.
stamp_of() { cat "$@" | sha256sum | cut -d ' ' -f 1; }

kube_version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2 }' "$apiserver_module/go.mod")
[ -n "$kube_version" ] || fail "no k8s.io/kubernetes version in $apiserver_module/go.mod"
kube_minor=${kube_version#v*.}
kube_minor=${kube_minor%%.*}
# Without these, the binary calls itself v0.0.0-master.
apiserver_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kube_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kube_minor"
apiserver="$cache/kube-apiserver"
apiserver_stamp=$(printf '%s\n%s %s\n' "$apiserver_ldflags" "$(go env GOOS)" "$(go env GOARCH)" |
  stamp_of "$apiserver_module/go.mod" "$apiserver_module/go.sum" -)
if [ -x "$apiserver" ] && [ "$(cat "$apiserver.stamp" 2>/dev/null)" = "$apiserver_stamp" ] &&
  [ "$("$apiserver" --version 2>/dev/null)" = "Kubernetes $kube_version" ]; then
  echo "kube-apiserver: cached, $("$apiserver" --version)"
else
  echo "kube-apiserver: building $kube_version from $apiserver_module (7 to 15 minutes on 2 cores, once)"
  build_start=$SECONDS
  rm -f "$apiserver.stamp"
  (cd "$apiserver_module" && go build -trimpath -ldflags "$apiserver_ldflags" -o "$apiserver.new" k8s.io/kubernetes/cmd/kube-apiserver) ||
    fail "building kube-apiserver $kube_version failed"
  mv "$apiserver.new" "$apiserver"
  [ "$("$apiserver" --version)" = "Kubernetes $kube_version" ] ||
    fail "the kube-apiserver just built says $("$apiserver" --version), not Kubernetes $kube_version"
  echo "$apiserver_stamp" >"$apiserver.stamp"
  echo "kube-apiserver: built in $((SECONDS - build_start)) s"
fi

checker="$cache/k8scheck"
checker_stamp=$(stamp_of "$checker_module/go.mod" "$checker_module/go.sum" "$checker_module"/*.go)
if [ -x "$checker" ] && [ "$(cat "$checker.stamp" 2>/dev/null)" = "$checker_stamp" ]; then
  echo "k8scheck: cached"
else
  echo "k8scheck: building from $checker_module"
  rm -f "$checker.stamp"
  (cd "$checker_module" && go build -trimpath -o "$checker.new" .) || fail "building $checker_module failed"
  mv "$checker.new" "$checker"
  echo "$checker_stamp" >"$checker.stamp"
fi
if $prepare_only; then
  echo "tools ready in $((SECONDS - started)) s"
  exit 0
fi

echo "exporter: building from $repo"
go build -o "$tmp/veeam_em_exporter" . || fail "building the exporter failed"

# The operator's CRDs, from the module proxy like any Go module.
operator_json=$(cd "$tmp" && GOFLAGS='' go mod download -json "$operator_module") ||
  fail "go mod download $operator_module failed: $operator_json"
operator_dir=$(printf '%s\n' "$operator_json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
crd_dir="$operator_dir/example/prometheus-operator-crd"
[ -d "$crd_dir" ] || fail "no $crd_dir in $operator_module"
echo "CRDs: $crd_dir"

step "etcd and kube-apiserver $kube_version on 127.0.0.1"
ports=$("$checker" freeports -n 3) || fail "no free loopback ports"
read -r etcd_port etcd_peer_port api_port <<<"$ports"
token=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
echo "$token,validate,validate,system:masters" >"$tmp/tokens.csv"
if command -v openssl >/dev/null; then
  openssl genrsa -out "$tmp/sa.key" 2048 2>/dev/null || fail "openssl genrsa failed"
  openssl rsa -in "$tmp/sa.key" -pubout -out "$tmp/sa.pub" 2>/dev/null || fail "openssl rsa -pubout failed"
else
  "$checker" genkey -key "$tmp/sa.key" -pub "$tmp/sa.pub"
fi

etcd --name validate --data-dir "$tmp/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "validate=http://127.0.0.1:$etcd_peer_port" >"$tmp/etcd.log" 2>&1 &
etcd_pid=$!
"$checker" wait -server "http://127.0.0.1:$etcd_port" -path /health -pid "$etcd_pid" -what etcd -timeout 30s ||
  fail_with_log "$tmp/etcd.log" "etcd did not become healthy"
echo "etcd: healthy on 127.0.0.1:$etcd_port"

api_start=$SECONDS
"$apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
  --endpoint-reconciler-type=none \
  --cert-dir="$tmp/pki" \
  --token-auth-file="$tmp/tokens.csv" --anonymous-auth=false \
  --authorization-mode=AlwaysAllow \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$tmp/sa.pub" --service-account-signing-key-file="$tmp/sa.key" \
  --service-cluster-ip-range=10.96.0.0/24 \
  >"$tmp/apiserver.log" 2>&1 &
apiserver_pid=$!
# The serving certificate the API server generates for itself is the only
# one trusted.
ca="$tmp/pki/apiserver.crt"
for _ in $(seq 150); do
  [ -s "$ca" ] && break
  kill -0 "$apiserver_pid" 2>/dev/null || fail_with_log "$tmp/apiserver.log" "kube-apiserver exited at start"
  sleep 0.2
done
[ -s "$ca" ] || fail_with_log "$tmp/apiserver.log" "kube-apiserver wrote no serving certificate to $tmp/pki within 30 s"
conn=(-server "https://127.0.0.1:$api_port" -token "$token" -ca "$ca")
"$checker" wait "${conn[@]}" -path /readyz -pid "$apiserver_pid" -what kube-apiserver -timeout 90s ||
  fail_with_log "$tmp/apiserver.log" "kube-apiserver did not become ready"
echo "kube-apiserver: ready on 127.0.0.1:$api_port after $((SECONDS - api_start)) s"

step "Prometheus Operator CRDs ($operator_module)"
"$checker" crds "${conn[@]}" -crd-dir "$crd_dir" -timeout 60s "${kustomizations[@]}" ||
  fail "the Prometheus Operator CRDs could not be created"

status=0
step "server-side dry run, strict field validation: ${kustomizations[*]}"
"$checker" dryrun "${conn[@]}" "${kustomizations[@]}" || status=1

step "manifests against the exporter binary"
sharded_args=()
[ -f "$sharded_prometheus" ] && sharded_args=(-prometheus-sharded "$sharded_prometheus")
"$checker" consistency -exporter "$tmp/veeam_em_exporter" "${sharded_args[@]}" "${kustomizations[@]}" || status=1

[ "$status" = 0 ] || fail "Kubernetes manifests are not valid (see the FAIL lines above)"
echo
echo "Kubernetes manifests valid: ${kustomizations[*]} ($((SECONDS - started)) s)"
