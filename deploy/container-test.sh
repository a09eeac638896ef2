#!/usr/bin/env bash
# Container test: the repository's Dockerfile, linted, built and run for real
# with podman, without a Docker daemon and without a registry.
#
# It asserts that
#   1. buildkit's own Dockerfile checks (those of `docker build --check`,
#      run offline by deploy/check/dockerfile) find nothing;
#   2. .dockerignore lets into the build context exactly the directories of
#      the packages the exporter is built from, and no other;
#   3. `podman build --pull=never` of the Dockerfile succeeds, with local
#      stand-ins for its two base images (no registry is reachable): the
#      build stage gets a static busybox and this machine's Go toolchain, the
#      run stage CA certificates, zoneinfo and the distroless "nonroot" user;
#   4. the image, run exactly as deploy/README.md documents it (read-only
#      root file system, all capabilities dropped, no-new-privileges, --demo,
#      published on 127.0.0.1), serves /metrics with veeam_em_up 1 and a
#      veeam_em_exporter_build_info carrying the version and revision given
#      as build arguments;
#   5. the exporter process itself, as the kernel sees it, runs as uid and
#      gid 65532 (the documented run line has no --user, so this is the
#      image's own USER), with no effective capabilities, no_new_privs set and
#      a read-only root mount.
#
# Installs what it lacks (Debian: podman, buildah, crun, fuse-overlayfs,
# slirp4netns, uidmap, catatonit, runc, busybox-static, ca-certificates,
# tzdata, curl) and adds to /etc/containers/containers.conf the two settings
# podman needs on such machines, unless they are set already. Needs root and
# go. The stand-in base images and the lint binary are cached, so a second
# run only rebuilds what changed. Bounded: the build may take 15 minutes, the
# first scrape with veeam_em_up 1 one more. The container and all temporary
# files are removed on exit; the built image (veeam_em_exporter:container-test)
# is kept, the one it replaces removed.
#
# Usage: bash deploy/container-test.sh
#        bash deploy/container-test.sh --prepare   (steps 1 to 5 only: CI builds
#        the image beside its other steps, and the full run reuses its layers)
set -Eeuo pipefail
prepare_only=false
[[ ${1:-} == --prepare ]] && prepare_only=true
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

readonly image=localhost/veeam_em_exporter:container-test
readonly container_port=9724
readonly build_timeout_seconds=900
readonly up_wait_seconds=60
readonly log_tail_lines=40
# The label that records what a stand-in base image was made from.
readonly standin_label=org.veeam-em-exporter.container-test.stand-in
readonly lint_module=deploy/check/dockerfile

started=$SECONDS
work=$(mktemp -d)
container=""

step() { printf '=== [%3ds] %s\n' $((SECONDS - started)) "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local status=$?
  if [[ -n $container ]]; then
    if ((status != 0)); then
      printf '\n--- container log (last %d lines)\n' "$log_tail_lines" >&2
      podman logs --tail "$log_tail_lines" "$container" >&2 2>&1 || true
    fi
    podman rm --force --time 0 "$container" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Any other command that fails says so.
trap 'fail "line $LINENO: $BASH_COMMAND (status $?)"' ERR

((EUID == 0)) || fail "run as root: podman runs rootful here (see /work/shared/TOOLS.md)"
command -v go >/dev/null || fail "go is not installed"
[[ -f Dockerfile && -f .dockerignore ]] || fail "Dockerfile or .dockerignore is missing"

# --- 1. lint ---------------------------------------------------------------

step "lint the Dockerfile with buildkit's checks ($lint_module, offline)"
# The lint program is built once per version of its sources into GOPATH/bin;
# compiling buildkit takes minutes, running it a fraction of a second.
lint_hash=$(cat "$lint_module/go.mod" "$lint_module/go.sum" "$lint_module"/*.go | sha256sum | cut -c1-12)
lint_bin="$(go env GOPATH)/bin/veeam-em-dockerfile-lint-$lint_hash"
if [[ ! -x $lint_bin ]]; then
  mkdir -p "$(dirname "$lint_bin")"
  (cd "$lint_module" && go build -o "$lint_bin.tmp" .) || fail "building $lint_module"
  mv "$lint_bin.tmp" "$lint_bin"
  # Earlier versions of the lint program are of no further use.
  find "$(dirname "$lint_bin")" -maxdepth 1 -name 'veeam-em-dockerfile-lint-*' ! -path "$lint_bin" -delete
fi
"$lint_bin" -v Dockerfile || fail "buildkit's Dockerfile checks report the warnings above"

# --- 2. build context ------------------------------------------------------

step ".dockerignore allows exactly the exporter's packages"
# The top-level directories of the main module's packages the binary is
# built from (the module root is "."), against the directories the
# allow-list re-includes with a "!dir/" line.
module_dir=$(go list -m -f '{{.Dir}}')
mapfile -t needed < <(go list -deps -f '{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}' . |
  sed -e "s#^$module_dir\$#.#" -e "s#^$module_dir/##" -e 's#/.*##' | sort -u)
mapfile -t allowed < <(sed -n -e 's#^!\([^*/!][^*/]*\)/\{0,1\}$#\1#p' .dockerignore | grep -v -e '^go\.mod$' -e '^go\.sum$' | sort -u)
[[ $(head -n 1 < <(grep -v -e '^#' -e '^$' .dockerignore)) == '*' ]] ||
  fail ".dockerignore must start with '*' (it is an allow-list)"
for dir in "${needed[@]}"; do
  if [[ $dir == . ]]; then
    for line in '!go.mod' '!go.sum' '!*.go'; do
      grep -qxF -- "$line" .dockerignore || fail ".dockerignore lacks '$line': the build needs the module root"
    done
  elif ! printf '%s\n' "${allowed[@]}" | grep -qxF -- "$dir"; then
    fail ".dockerignore lacks '!$dir/': the exporter is built from packages in $dir/"
  fi
done
for dir in "${allowed[@]}"; do
  printf '%s\n' "${needed[@]}" | grep -qxF -- "$dir" ||
    fail ".dockerignore allows '$dir/', but no package the exporter is built from lives there"
done
echo "build context: go.mod go.sum *.go $(printf '%s/ ' "${needed[@]}" | sed 's#\./ ##')(tests and testdata excluded)"

# --- 3. tools --------------------------------------------------------------

step "podman and the files for the stand-in base images"
packages=(podman buildah crun fuse-overlayfs slirp4netns uidmap catatonit runc busybox-static ca-certificates tzdata curl)
missing=()
for package in "${packages[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) == "install ok installed" ]] || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    fail "apt-get install ${missing[*]}"
fi

# Sets key = value in [section] of a TOML file, unless the section already
# sets the key (to whatever value: that is left alone, and said).
toml_default() {
  local file=$1 section=$2 key=$3 value=$4 current
  touch "$file"
  current=$(awk -v section="[$section]" -v key="$key" '
    /^[[:space:]]*\[/ { gsub(/[[:space:]]/, ""); inside = ($0 == section); next }
    inside && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" { sub(/^[^=]*=[[:space:]]*/, ""); print; exit }
  ' "$file")
  if [[ -n $current ]]; then
    [[ $current == "$value" ]] || echo "note: $file keeps [$section] $key = $current (wanted $value)"
    return
  fi
  if grep -q "^[[:space:]]*\[$section\][[:space:]]*$" "$file"; then
    awk -v section="[$section]" -v line="$key = $value" '
      { print }
      !done { header = $0; gsub(/[[:space:]]/, "", header); if (header == section) { print line; done = 1 } }
    ' "$file" >"$work/conf" && cat "$work/conf" >"$file"
  else
    printf '\n[%s]\n%s = %s\n' "$section" "$key" "$value" >>"$file"
  fi
  echo "set [$section] $key = $value in $file"
}
mkdir -p /etc/containers
# crun fails here with "cgroups in hybrid mode not supported"; without the
# ulimits, setting rlimits in the container fails with EPERM.
toml_default /etc/containers/containers.conf engine runtime '"runc"'
toml_default /etc/containers/containers.conf containers default_ulimits '["nofile=4096:4096", "nproc=4096:4096"]'
podman --version

# --- 4. stand-in base images -----------------------------------------------

# Docker's normalisation of an image name: "golang:1.26" is
# "docker.io/library/golang:1.26"; a name with a registry stays as it is.
normalise() {
  local name=$1 first=${1%%/*}
  if [[ $name != */* ]]; then
    echo "docker.io/library/$name"
  elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then
    echo "$name"
  else
    echo "docker.io/$name"
  fi
}

# The key recorded on an existing stand-in, empty if there is none.
standin_key() {
  podman image inspect --format "{{index .Labels \"$standin_label\"}}" "$1" 2>/dev/null || true
}

# The build stage's base: a static busybox for the shell, and this
# machine's Go toolchain as /usr/local/go, set up like the official image.
golang_standin() {
  local name=$1 key=$2 root="$work/golang-root" goroot applet
  goroot=$(go env GOROOT)
  mkdir -p "$root"/{bin,etc/ssl/certs,go/bin,go/src,root,tmp,usr/local}
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
  done
  # go mod download fetches from the module proxy over HTTPS.
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  # Hard links where the file system allows them, else a copy.
  cp -al "$goroot" "$root/usr/local/go" 2>/dev/null ||
    { rm -rf "$root/usr/local/go" && cp -a "$goroot" "$root/usr/local/go"; }
  tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . |
    podman import --quiet \
      --change "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
      --change "ENV GOROOT=/usr/local/go" --change "ENV GOPATH=/go" --change "ENV GOTOOLCHAIN=local" \
      --change "WORKDIR /go" --change "LABEL $standin_label=$key" - "$name" >/dev/null
}

# The run stage's base: what distroless's static image holds that a static
# Go binary can use (CA certificates, zoneinfo, passwd and group with the
# "nonroot" user 65532 and its home), and no shell.
distroless_standin_tar() {
  local root="$work/distroless-root"
  mkdir -p "$root"/{etc/ssl/certs,usr/share,home/nonroot,tmp}
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/home/nonroot"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  cp -a /usr/share/zoneinfo "$root/usr/share/"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$root/etc/group"
  chown 65532:65532 "$root/home/nonroot"
  # Reproducible, so that its hash says whether the content changed.
  tar -C "$root" --sort=name --mtime=@0 --numeric-owner --format=gnu -cf "$1" .
}

mapfile -t bases < <(awk 'toupper($1) == "FROM" {
  for (i = 2; i <= NF; i++) if ($i !~ /^--/) { print $i; break } }' Dockerfile | sort -u)
((${#bases[@]} > 0)) || fail "no FROM line in the Dockerfile"
stage_names=$(awk 'toupper($1) == "FROM" && toupper($(NF-1)) == "AS" { print $NF }' Dockerfile)
go_version=$(go env GOVERSION)
for base in "${bases[@]}"; do
  grep -qxF -- "$base" <<<"$stage_names" && continue # FROM an earlier stage
  name=$(normalise "$base")
  case $name in
  docker.io/library/golang:*)
    tag=${name##*:}
    # The stand-in is this machine's Go: the tag must name its version.
    [[ $go_version == "go$tag" || $go_version == go$tag.* ]] ||
      fail "the Dockerfile builds with $base, but this machine's Go is $go_version: no honest stand-in"
    key=$( (go version && busybox_version=$(dpkg-query -W -f='${Version}' busybox-static) &&
      echo "$busybox_version" && declare -f golang_standin) | sha256sum | cut -c1-16)
    if [[ $(standin_key "$name") == "$key" ]]; then
      echo "$base: cached stand-in ($go_version)"
    else
      golang_standin "$name" "$key"
      echo "$base: stand-in made ($go_version, busybox $(dpkg-query -W -f='${Version}' busybox-static))"
    fi
    ;;
  gcr.io/distroless/static*)
    distroless_standin_tar "$work/distroless.tar"
    key=$( (sha256sum <"$work/distroless.tar" && declare -f distroless_standin_tar) | sha256sum | cut -c1-16)
    if [[ $(standin_key "$name") == "$key" ]]; then
      echo "$base: cached stand-in"
    else
      podman import --quiet --change "USER 65532:65532" --change "WORKDIR /home/nonroot" \
        --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
        --change "LABEL $standin_label=$key" "$work/distroless.tar" "$name" >/dev/null ||
        fail "making the stand-in for $base"
      echo "$base: stand-in made (CA certificates, zoneinfo, user nonroot 65532)"
    fi
    ;;
  *)
    fail "the Dockerfile uses $base, for which this test has no stand-in (no registry is reachable)"
    ;;
  esac
done

# --- 5. build --------------------------------------------------------------

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
version="container-test-$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
previous_id=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)

step "podman build of the Dockerfile (VERSION=$version REVISION=$revision)"
timeout "$build_timeout_seconds" podman build --pull=never --network=host --layers \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg BRANCH="$branch" \
  --build-arg BUILD_USER=container-test --build-arg BUILD_DATE="$(date -u +%Y%m%d-%H:%M:%S)" \
  --iidfile "$work/iid" -t "$image" -f Dockerfile . >"$work/build.log" 2>&1 || {
  status=$?
  tail -n "$log_tail_lines" "$work/build.log" >&2
  ((status == 124)) && fail "podman build did not finish within ${build_timeout_seconds}s"
  fail "podman build failed (status $status; the end of its log is above)"
}
image_id=$(<"$work/iid")
image_id=${image_id#sha256:}
# Layers are cached between runs. What an earlier build left and this one
# did not use goes: the image this build replaced, and each leaf of an
# earlier build stage (the go build layer, hundreds of MB with its build
# cache). Only images made from the stand-ins carry their label.
if [[ -n $previous_id && $previous_id != "$image_id" ]]; then
  podman rmi "$previous_id" >/dev/null 2>&1 || true
fi
# podman build names each layer it made or reused on a "--> <id>" line,
# the id shortened to 11 characters.
used_layers=$(sed -n 's/^--> \(Using cache \)\{0,1\}\([0-9a-f]\{11\}\).*/\2/p' "$work/build.log")
[[ -n $used_layers ]] || fail "no '--> <id>' line in podman build's output: cannot tell its layers"
stale=0
for leaf in $(podman images -q --no-trunc --filter dangling=true --filter "label=$standin_label"); do
  leaf=${leaf#sha256:}
  grep -qxF -- "${leaf:0:11}" <<<"$used_layers" && continue
  podman rmi "$leaf" >/dev/null 2>&1 && stale=$((stale + 1))
done
((stale == 0)) || echo "removed $stale stale build-cache image(s) of earlier runs"
image_user=$(podman image inspect --format '{{.Config.User}}' "$image")
image_size=$(podman image inspect --format '{{.Size}}' "$image")
label_version=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.version"}}' "$image")
label_revision=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$image")
[[ $label_version == "$version" && $label_revision == "$revision" ]] ||
  fail "image labels say version '$label_version' revision '$label_revision', want '$version' '$revision'"
echo "image ${image_id:0:12}: $((image_size / 1024 / 1024)) MiB, USER '$image_user'," \
  "$(podman image inspect --format '{{index .Labels "org.opencontainers.image.description"}}' "$image")"

if $prepare_only; then
  echo "image built in $((SECONDS - started)) s"
  exit 0
fi

# --- 6. run ----------------------------------------------------------------

step "run it as deploy/README.md documents (read-only, no capabilities, no-new-privileges, --demo)"
# The documented line, with the host port left to podman and a name of its
# own: no --user, the image's USER must be non-root by itself.
run_flags=(--read-only --cap-drop=ALL --security-opt no-new-privileges)
grep -qF -- "docker run -d --name veeam_em_exporter ${run_flags[*]} " deploy/README.md ||
  fail "deploy/README.md no longer documents 'docker run -d --name veeam_em_exporter ${run_flags[*]} ...': make the two agree"
container=$(podman run -d --name "veeam-em-container-test-$$" "${run_flags[@]}" \
  -p "127.0.0.1::$container_port" "$image" --demo) || fail "podman run"
host_address=$(podman port "$container" "$container_port/tcp" | head -n 1)
[[ $host_address == 127.0.0.1:* ]] || fail "published on '$host_address', not on 127.0.0.1"
url="http://$host_address/metrics"

# The demo's first refresh runs in the background of the first scrapes:
# scrape until veeam_em_up is 1.
up_line=""
for ((waited = 0; waited < up_wait_seconds * 2; waited++)); do
  [[ $(podman inspect --format '{{.State.Running}}' "$container") == true ]] || fail "the container exited"
  if curl -fsS -o "$work/metrics" "$url" 2>/dev/null; then
    up_line=$(grep '^veeam_em_up ' "$work/metrics" || true)
    [[ $up_line == "veeam_em_up 1" ]] && break
  fi
  sleep 0.5
done
[[ -s $work/metrics ]] || fail "no answer from $url within ${up_wait_seconds}s"
[[ $up_line == "veeam_em_up 1" ]] || fail "veeam_em_up is '${up_line#veeam_em_up }', not 1, after ${up_wait_seconds}s"
build_info=$(grep '^veeam_em_exporter_build_info{' "$work/metrics" || true)
[[ -n $build_info ]] || fail "no veeam_em_exporter_build_info in $url"
[[ $build_info == *"version=\"$version\""* ]] || fail "build_info lacks version=\"$version\": $build_info"
[[ $build_info == *"revision=\"$revision\""* ]] || fail "build_info lacks revision=\"$revision\": $build_info"
echo "$url:"
echo "  $up_line"
echo "  $build_info"

step "the exporter process: uid, gid, capabilities, no_new_privs, read-only root"
pid=$(podman inspect --format '{{.State.Pid}}' "$container")
[[ $pid =~ ^[1-9][0-9]*$ && -r /proc/$pid/status ]] || fail "no process for the container (pid '$pid')"
[[ $(readlink "/proc/$pid/exe") == */veeam_em_exporter ]] ||
  fail "pid $pid is $(readlink "/proc/$pid/exe"), not the exporter"
uids=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "/proc/$pid/status")
gids=$(awk '$1 == "Gid:" { print $2, $3, $4, $5 }' "/proc/$pid/status")
cap_eff=$(awk '$1 == "CapEff:" { print $2 }' "/proc/$pid/status")
cap_prm=$(awk '$1 == "CapPrm:" { print $2 }' "/proc/$pid/status")
no_new_privs=$(awk '$1 == "NoNewPrivs:" { print $2 }' "/proc/$pid/status")
root_options=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo" | tail -n 1)
echo "pid $pid: Uid $uids, Gid $gids, CapEff $cap_eff, CapPrm $cap_prm, NoNewPrivs $no_new_privs, / mounted $root_options"
for id in $uids; do
  ((id == 65532)) || fail "the exporter runs as uid $id (Uid: $uids), not 65532: the image's USER is '$image_user'"
done
for id in $gids; do
  ((id == 65532)) || fail "the exporter runs as gid $id (Gid: $gids), not 65532: the image's USER is '$image_user'"
done
[[ $cap_eff =~ ^0+$ && $cap_prm =~ ^0+$ ]] || fail "the exporter has capabilities: CapEff $cap_eff, CapPrm $cap_prm"
[[ $no_new_privs == 1 ]] || fail "no_new_privs is not set (NoNewPrivs: $no_new_privs)"
[[ ,$root_options, == *,ro,* ]] || fail "the root file system is mounted '$root_options', not read-only"

uid=${uids%%[[:space:]]*}
up=${up_line#veeam_em_up }
printf 'container-test passed in %ds: image %s (%d MiB), uid %s, veeam_em_up %s, %s\n' \
  $((SECONDS - started)) "${image_id:0:12}" $((image_size / 1024 / 1024)) "$uid" "$up" "$build_info"
