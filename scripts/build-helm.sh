#!/usr/bin/env bash
# Builds the pinned Helm binary from the Go module proxy into a versioned cache folder outside the
# checkout, like build-platform-binaries.sh does for kubectl: skips when present, builds under a
# lock, prints progress. deployer renders `source: {helm: ...}` service manifests with it; the
# product itself finds `helm` on PATH or in $DEPLOYER_HELM, the local platform puts this one there.
#
# Usage: build-helm.sh [DEST]   (default: $DEPLOYER_PLATFORM_CACHE or ~/.cache/deployer/platform,
#        then /helm-$HELM_VERSION). The last line on stdout is DEST; progress goes to stderr.
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v4.3.1}
cache_root=${DEPLOYER_PLATFORM_CACHE:-$HOME/.cache/deployer/platform}
dest=${1:-$cache_root/helm-$HELM_VERSION}
mkdir -p "$dest"
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"

log() { printf '[helm-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

exec 9>"$dest/.lock"
if ! flock -n 9; then
  log "another build holds $dest/.lock; waiting for it"
  flock 9
fi
if [ -x "$dest/helm" ]; then
  log "helm $HELM_VERSION present in $dest"
  echo "$dest"
  exit 0
fi
if ! command -v go >/dev/null; then
  log "helm is missing, and building it needs Go (1.24 or newer) on PATH"
  exit 3
fi
log "building helm $HELM_VERSION into $dest (about 4 minutes cold on 2 cores)"
# The version is stamped so `helm version` tells the truth (Helm reads it from internal/version).
GOBIN="$dest/.partial" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
mv "$dest/.partial/helm" "$dest/helm"
rmdir "$dest/.partial"
log "helm $HELM_VERSION: done"
echo "$dest"
