# Sourced by the check scripts: finds Prometheus 3.x binaries and reports
# their version. Not executable on its own.
#
#   source deploy/prometheus/prometheus3.sh
#   promtool=$(prometheus3_find promtool PROMTOOL) || exit 1
#   echo "promtool $(prometheus3_version "$promtool")"
#
# prometheus3_find NAME VAR looks at, in order: the path or command in the
# environment variable VAR; NAME in GOBIN, or GOPATH/bin (where
# install-prometheus3.sh puts it); NAME on PATH. It prints the path of the
# first one found and returns 0 if that one is Prometheus 3.x; otherwise it
# prints a FAIL line to stderr and returns 1. It never looks further than the
# first one found, so a Prometheus 2 on PATH cannot stand in silently.

# prometheus3_version BINARY prints the Prometheus release a prometheus or
# promtool binary was built from, e.g. 3.16.0 or 2.42.0+ds, or nothing.
prometheus3_version() {
  local bin=$1 version
  version=$("$bin" --version 2>&1 | sed -n '1s/^.* version \([0-9][^ ]*\) .*$/\1/p')
  if [[ -z $version ]] && command -v go >/dev/null; then
    # `go install` leaves the version stamp empty; the module version tells
    # it instead: Prometheus 3.16.0 is module version v0.316.0.
    version=$(go version -m "$bin" 2>/dev/null |
      awk '$1 == "mod" && $2 == "github.com/prometheus/prometheus" { print $3 }')
    if [[ $version =~ ^v0\.([1-9])([0-9][0-9])\.([0-9]+)$ ]]; then
      version="${BASH_REMATCH[1]}.$((10#${BASH_REMATCH[2]})).${BASH_REMATCH[3]}"
    fi
  fi
  printf '%s\n' "$version"
}

prometheus3_find() {
  local name=$1 var=$2 bin="" gobin="" version
  if [[ -n ${!var:-} ]]; then
    bin=$(command -v "${!var}" || true)
    [[ -n $bin ]] || { echo "FAIL: $var=${!var} is not an executable" >&2; return 1; }
  else
    if command -v go >/dev/null; then
      gobin=$(go env GOBIN)
      [[ -n $gobin ]] || gobin="$(go env GOPATH)/bin"
    fi
    if [[ -n $gobin && -x $gobin/$name ]]; then
      bin=$gobin/$name
    else
      bin=$(command -v "$name" || true)
    fi
    [[ -n $bin ]] || {
      echo "FAIL: $name 3.x not found; run deploy/prometheus/install-prometheus3.sh or set $var" >&2
      return 1
    }
  fi
  version=$(prometheus3_version "$bin")
  if [[ $version != 3.* ]]; then
    echo "FAIL: $bin is Prometheus ${version:-of unknown version}, not 3.x;" \
      "run deploy/prometheus/install-prometheus3.sh or set $var" >&2
    return 1
  fi
  printf '%s\n' "$bin"
}
