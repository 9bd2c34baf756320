#!/usr/bin/env bash
# Builds the pinned binaries of the local platform (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok) from the Go module proxy into a versioned cache folder
# outside the checkout. Skips what is present, builds under a lock, prints progress.
#
# Why a wrapper module: k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces
# them with local folders, so `go install k8s.io/kubernetes/cmd/...@v1.Y.Z` is refused. A scratch
# module that requires k8s.io/kubernetes and pins each staging module to v0.Y.Z builds it.
# etcd's server module has replace lines too, so it goes through a wrapper the same way.
#
# Usage: build-platform-binaries.sh [DEST]    (default: $DEPLOYER_PLATFORM_CACHE or
#        ~/.cache/deployer/platform/bin-k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION)
# PLATFORM_BINARIES="kube-scheduler kwok" limits the build to those (deployer sets it when
# KUBEBUILDER_ASSETS already provides etcd, kube-apiserver and kubectl).
# The last line on stdout is DEST; progress goes to stderr.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
cache_root=${DEPLOYER_PLATFORM_CACHE:-$HOME/.cache/deployer/platform}
dest=${1:-$cache_root/bin-k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION}
mkdir -p "$dest"
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '[platform-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

exec 9>"$dest/.lock"
if ! flock -n 9; then
  log "another build holds $dest/.lock; waiting for it"
  flock 9
fi

read -r -a want <<<"${PLATFORM_BINARIES:-kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok}"
missing=()
for b in "${want[@]}"; do [ -x "$dest/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  log "all binaries present in $dest"
  echo "$dest"
  exit 0
fi
if ! command -v go >/dev/null; then
  log "missing ${missing[*]}, and building them needs Go (1.24 or newer) on PATH"
  exit 3
fi
log "building into $dest: ${missing[*]} (a cold build takes about 17 minutes on 2 cores)"

work=$(mktemp -d "${TMPDIR:-/tmp}/deployer-platform-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

needs() { local b; for b in "$@"; do [[ " ${missing[*]} " == *" $b "* ]] && return 0; done; return 1; }

k8s_cmds=()
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do needs "$b" && k8s_cmds+=("$b"); done
if [ ${#k8s_cmds[@]} -gt 0 ]; then
  log "kubernetes $K8S_VERSION: resolving modules"
  mkdir -p "$work/k8s" && cd "$work/k8s"
  go mod init deployer.local/k8s-wrapper >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  staging_version="v0.${K8S_VERSION#v1.}"
  edits=(-require="k8s.io/kubernetes@$K8S_VERSION")
  while read -r mod; do
    edits+=(-replace="$mod=$mod@$staging_version")
  done < <(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod")
  go mod edit "${edits[@]}"
  major=${K8S_VERSION#v}; major=${major%%.*}
  minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  log "kubernetes $K8S_VERSION: compiling ${k8s_cmds[*]}"
  # -mod=mod lets go fill go.sum for exactly the packages these commands import. One go build
  # for all of them shares the compiled packages; -o DIR/ names each binary after its package.
  go build -mod=mod -trimpath -ldflags "-s -w$ldflags" -o "$work/out/" \
    "${k8s_cmds[@]/#/k8s.io/kubernetes/cmd/}"
  for b in "${k8s_cmds[@]}"; do mv "$work/out/$b" "$dest/$b"; done
  log "kubernetes $K8S_VERSION: done"
fi

if needs etcd; then
  log "etcd $ETCD_VERSION: compiling"
  mkdir -p "$work/etcd" && cd "$work/etcd"
  go mod init deployer.local/etcd-wrapper >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -mod=mod -trimpath -ldflags "-s -w" -o "$work/out/etcd" go.etcd.io/etcd/server/v3
  mv "$work/out/etcd" "$dest/etcd"
  log "etcd $ETCD_VERSION: done"
fi

if needs kwok; then
  log "kwok $KWOK_VERSION: compiling"
  GOBIN="$work/out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv "$work/out/kwok" "$dest/kwok"
  log "kwok $KWOK_VERSION: done"
fi

log "all binaries built in $dest"
echo "$dest"
