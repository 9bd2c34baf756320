#!/usr/bin/env bash
# The main job on the local platform: start two real Kubernetes clusters (an on-prem style one and
# a GKE style one behind the GCP stand-in), a registry, then validate the cluster files the
# platform wrote. Later steps of the story are added here as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
deployer=${DEPLOYER:-.venv/bin/deployer}
export DEPLOYER_CONFIG_DIR=examples/local

"$deployer" platform up
"$deployer" validate
"$deployer" clusters list
