#!/usr/bin/env bash
# Fetches the jars the Jenkins pipeline harness (tests/jenkins/) runs on: Groovy 4 (the language
# Jenkins pipelines are written in), groovy-json (the harness writes its record as JSON) and
# SnakeYAML (what the readYaml step of Jenkins' pipeline-utility-steps parses with). They come
# from Maven Central through `mvn dependency:copy` into a versioned cache folder outside the
# checkout. Skips what is present, fetches under a lock, prints progress on stderr.
#
# Usage: fetch-groovy.sh [DEST]   (default: $DEPLOYER_GROOVY_CACHE or
#        ~/.cache/deployer/groovy/groovy-$GROOVY_VERSION-snakeyaml-$SNAKEYAML_VERSION)
# The last line on stdout is DEST; the harness runs with `java -cp "DEST/*" groovy.ui.GroovyMain`.
set -euo pipefail

GROOVY_VERSION=${GROOVY_VERSION:-4.0.24}
SNAKEYAML_VERSION=${SNAKEYAML_VERSION:-2.2}
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1
cache_root=${DEPLOYER_GROOVY_CACHE:-$HOME/.cache/deployer/groovy}
dest=${1:-$cache_root/groovy-$GROOVY_VERSION-snakeyaml-$SNAKEYAML_VERSION}
artifacts=(
  "org.apache.groovy:groovy:$GROOVY_VERSION"
  "org.apache.groovy:groovy-json:$GROOVY_VERSION"
  "org.yaml:snakeyaml:$SNAKEYAML_VERSION"
)

log() { printf '[fetch-groovy %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

jar_of() { local IFS=:; set -- $1; echo "$2-$3.jar"; }

mkdir -p "$dest"
exec 9>"$dest/.lock"
if ! flock -n 9; then
  log "another fetch holds $dest/.lock; waiting for it"
  flock 9
fi

missing=()
for a in "${artifacts[@]}"; do [ -s "$dest/$(jar_of "$a")" ] || missing+=("$a"); done
if [ ${#missing[@]} -eq 0 ]; then
  log "all jars present in $dest"
  echo "$dest"
  exit 0
fi
if ! command -v mvn >/dev/null; then
  log "missing ${missing[*]}, and fetching them needs Maven (mvn) on PATH"
  exit 3
fi

# Copy into a scratch folder first so an interrupted fetch never leaves a half-written jar in DEST.
work=$(mktemp -d "${TMPDIR:-/tmp}/deployer-groovy-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
for a in "${missing[@]}"; do
  log "fetching $a from Maven Central"
  # Run in an empty folder: dependency:copy with -Dartifact needs no project (pom.xml).
  (cd "$work" && mvn -B -q -Dstyle.color=never "$DEPENDENCY_PLUGIN:copy" -Dartifact="$a" -DoutputDirectory="$work/out" \
     -Dmdep.overWriteReleases=true) >&2
  mv "$work/out/$(jar_of "$a")" "$dest/"
done
log "fetched ${#missing[@]} jars into $dest"
echo "$dest"
