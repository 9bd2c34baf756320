#!/usr/bin/env bash
# Builds Dex (a real OpenID Connect provider) from the Go module proxy, for the web page's sign-in
# test against something other than our own stand-in (tests/integration/test_web_auth_dex.py).
# Prints the binary's path. Cached per version under ~/.cache/deployer/dex; built under a lock.
#
# The proxy serves Dex only at pseudo-versions (its v2 tags lack a /v2 module path) and refuses
# commit queries, so the version is pinned to one the proxy knows. Dex's go.mod replaces its api/v2
# module with a folder, which `go install pkg@version` refuses: a throw-away wrapper module builds it.
set -euo pipefail
VERSION="${DEPLOYER_DEX_VERSION:-v0.0.0-20210917061239-f0186ff2651e}"
CACHE="${DEPLOYER_CACHE_DIR:-$HOME/.cache/deployer}/dex/$VERSION"
BIN="$CACHE/dex"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'module dexwrap\n\ngo 1.17\n\nrequire github.com/dexidp/dex %s\n' "$VERSION" > go.mod
printf '//go:build tools\n\npackage dexwrap\n\nimport _ "github.com/dexidp/dex/cmd/dex"\n' > tools.go
echo "building Dex $VERSION (minutes on first use)" >&2
# cgo: this Dex declares its SQLite storage with mattn/go-sqlite3 (the test uses the memory storage)
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=1 GOFLAGS=-mod=mod
go mod tidy >&2
go build -trimpath -o "$BIN.tmp" github.com/dexidp/dex/cmd/dex >&2
mv "$BIN.tmp" "$BIN"
echo "$BIN"
