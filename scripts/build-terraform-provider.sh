#!/usr/bin/env bash
# Builds the hashicorp/google Terraform provider from its Go module into a versioned cache folder
# outside the checkout, laid out as a Terraform filesystem mirror, and writes a CLI config file
# (for TF_CLI_CONFIG_FILE) that installs the provider from that mirror and nothing from the network.
# Skips what is present, builds under a lock, prints progress.
#
# Why this exact module version: the provider's v2+ tags have no /vN module path, so the module
# proxy refuses every tag (v4.9.0, v6.x.y, with or without +incompatible) and also refuses a bare
# commit hash. It only serves full pseudo-versions, and of those only some: the newest one found
# that it serves is main at bc5fcb3c89a5 (2022-02-01 00:22:49 UTC), whose CHANGELOG heads
# "4.9.0 (Unreleased)". docs/terraform.md lists every version tried and the proxy's answer.
# Terraform needs a release version in the mirror, so the build is published as 4.9.0 and its
# ProviderVersion is stamped "4.9.0-dev+bc5fcb3c89a5" (what `terraform version` and the provider's
# user agent show), so nobody mistakes it for the released binary.
#
# Usage: build-terraform-provider.sh [DEST]   (default: $DEPLOYER_TERRAFORM_PROVIDER_CACHE or
#        ~/.cache/deployer/terraform-providers, then google-$PROVIDER_VERSION-$COMMIT)
# DEST gets:
#   mirror/registry.terraform.io/hashicorp/google/$VERSION/${GOOS}_${GOARCH}/terraform-provider-google_v$VERSION
#   mirror/registry.opentofu.org/...   (the same file, hard-linked: OpenTofu looks there)
#   terraform.rc                       (the CLI config; point TF_CLI_CONFIG_FILE at it)
#   provider.json                      (what was built, from which module version, how long it took)
# The last line on stdout is the CLI config's path; progress goes to stderr.
# Exit codes: 0 built or present, 3 Go is missing, other: the build failed (its output is above).
set -euo pipefail

MODULE=github.com/hashicorp/terraform-provider-google
MODULE_VERSION=${PROVIDER_MODULE_VERSION:-v1.20.1-0.20220201002249-bc5fcb3c89a5}
PROVIDER_VERSION=${PROVIDER_VERSION:-4.9.0}
commit=${MODULE_VERSION##*-}
cache_root=${DEPLOYER_TERRAFORM_PROVIDER_CACHE:-$HOME/.cache/deployer/terraform-providers}
dest=${1:-$cache_root/google-$PROVIDER_VERSION-$commit}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '[terraform-provider-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

exec 9>"$dest/.lock"
if ! flock -n 9; then
  log "another build holds $dest/.lock; waiting for it"
  flock 9
fi

if command -v go >/dev/null; then
  goos=$(go env GOOS) goarch=$(go env GOARCH)
else
  goos=linux
  case "$(uname -m)" in x86_64) goarch=amd64 ;; aarch64 | arm64) goarch=arm64 ;; *) goarch=$(uname -m) ;; esac
fi
target="${goos}_${goarch}"
binary_name="terraform-provider-google_v$PROVIDER_VERSION"
tf_dir="$dest/mirror/registry.terraform.io/hashicorp/google/$PROVIDER_VERSION/$target"
tofu_dir="$dest/mirror/registry.opentofu.org/hashicorp/google/$PROVIDER_VERSION/$target"
cli_config="$dest/terraform.rc"

write_cli_config() {
  # Only the google provider comes from the mirror, and nothing else may be fetched: the run is
  # offline and reproducible. disable_checkpoint stops Terraform's version check call home.
  local tmp="$cli_config.tmp"
  cat >"$tmp" <<EOF
# Written by scripts/build-terraform-provider.sh: use with TF_CLI_CONFIG_FILE=$cli_config
disable_checkpoint = true

provider_installation {
  filesystem_mirror {
    path    = "$dest/mirror"
    include = ["registry.terraform.io/hashicorp/google", "registry.opentofu.org/hashicorp/google"]
  }
}
EOF
  mv "$tmp" "$cli_config"
}

if [ -x "$tf_dir/$binary_name" ] && [ -x "$tofu_dir/$binary_name" ] && [ -f "$dest/provider.json" ]; then
  write_cli_config
  log "google provider $PROVIDER_VERSION ($MODULE@$MODULE_VERSION) present in $dest"
  echo "$cli_config"
  exit 0
fi
if ! command -v go >/dev/null; then
  log "the google provider is missing from $dest, and building it needs Go (1.22 or newer) on PATH"
  exit 3
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/deployer-provider-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "building google provider $PROVIDER_VERSION from $MODULE@$MODULE_VERSION for $target"
log "(a cold build downloads ~70 modules and compiles for several minutes on 2 cores)"
started=$(date +%s)
# go install pkg@version builds with the provider's own go.mod and go.sum (it has no replace
# lines), so the dependency set is exactly the one its maintainers tested.
GOBIN="$work/bin" go install -trimpath \
  -ldflags "-s -w -X $MODULE/version.ProviderVersion=$PROVIDER_VERSION-dev+$commit" \
  "$MODULE@$MODULE_VERSION"
seconds=$(( $(date +%s) - started ))

mkdir -p "$tf_dir" "$tofu_dir"
install -m 0755 "$work/bin/terraform-provider-google" "$tf_dir/$binary_name.tmp"
mv "$tf_dir/$binary_name.tmp" "$tf_dir/$binary_name"
ln -f "$tf_dir/$binary_name" "$tofu_dir/$binary_name"
cat >"$dest/provider.json" <<EOF
{
  "provider": "hashicorp/google",
  "version": "$PROVIDER_VERSION",
  "stamped_version": "$PROVIDER_VERSION-dev+$commit",
  "module": "$MODULE",
  "module_version": "$MODULE_VERSION",
  "commit": "$commit",
  "target": "$target",
  "go": "$(go env GOVERSION)",
  "build_seconds": $seconds
}
EOF
write_cli_config
log "built in ${seconds}s: $tf_dir/$binary_name"
echo "$cli_config"
