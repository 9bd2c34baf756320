#!/usr/bin/env bash
# Installs (or finds) every outside component the test suite runs, so that `make test` on a fresh
# machine runs every test instead of skipping some, and stops with a message naming the component
# that cannot be had. Under CI a skipped test fails the run (tests/conftest.py), so a missing
# component here would fail later anyway: failing first, by name, is kinder.
#
# Components: Java and Maven (the Jenkinsfile runs on Groovy in a JVM; Maven fetches the Groovy
# jars), the Groovy jars, Chromium (the deploy page's browser test), PostgreSQL (the page's store), Terraform (or OpenTofu) and
# the google Terraform provider built from its Go module. The Kubernetes binaries, the registry,
# buildah and skopeo come from `deployer platform prepare`.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test-prerequisites %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
  printf 'test-prerequisites: error: %s\nhint: %s\n' "$1" "$2" >&2
  exit 1
}

apt_updated=
apt_install() {  # apt_install COMMAND PACKAGE...: install PACKAGEs unless COMMAND is on PATH
  local command=$1; shift
  command -v "$command" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    fail "$command is not installed, and this user cannot install it (needs root and Debian's apt-get)" \
         "Install the Debian packages $* (apt-get install -y $*), then run make test again."
  fi
  log "installing $* (for $command)"
  if [ -z "$apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || fail "apt-get update failed (output above)" \
      "Check that Debian's package mirror is reachable."
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 \
    || fail "apt-get install $* failed (output above)" "Install $* by hand, then run make test again."
  command -v "$command" >/dev/null 2>&1 || fail "$command is still missing after installing $*" \
    "Install a package that provides $command."
}

apt_install java openjdk-17-jre-headless
# libfaketime: the lock fault test runs a deploy whose wall clock runs 31 s ahead.
apt_install faketime faketime
apt_install mvn maven
apt_install chromium chromium
# PostgreSQL's server binaries (initdb, pg_ctl; not on PATH in Debian): the deploy page's store is
# tested against a real server that tests/integration/postgres.py starts in a temporary folder.
if [ -z "${DEPLOYER_TEST_POSTGRES_BIN:-}" ]; then
  PATH="$PATH$(printf ':/usr/lib/postgresql/%s/bin' 13 14 15 16 17 18)" apt_install initdb postgresql
fi

log "Groovy jars for the Jenkinsfile harness"
bash scripts/fetch-groovy.sh >/dev/null || fail "the Groovy jars could not be fetched from Maven Central (output above)" \
  "Run scripts/fetch-groovy.sh by hand to see why."

if ! command -v "${DEPLOYER_TERRAFORM:-terraform}" >/dev/null 2>&1 && ! command -v tofu >/dev/null 2>&1; then
  fail "neither terraform nor tofu is on PATH: the provision tests run real Terraform" \
       "Install Terraform 1.5+ or OpenTofu 1.6+ (or set DEPLOYER_TERRAFORM to its path), then run make test again."
fi

log "the google Terraform provider (built from its Go module on first use: minutes)"
bash scripts/build-terraform-provider.sh >/dev/null || fail "the google Terraform provider could not be built (output above)" \
  "See docs/terraform.md; run scripts/build-terraform-provider.sh by hand to see why."
log "all test prerequisites present"
