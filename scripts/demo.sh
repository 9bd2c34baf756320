#!/usr/bin/env bash
# The main job on the local platform: start two real Kubernetes clusters (an on-prem style one
# authenticated by bearer tokens, a GKE style one authenticated through the Google stand-in), a
# registry, then do what a platform team and its Jenkins do: validate the files, sync every
# cluster's namespaces and RBAC, provision the GKE deployer account with Terraform, verify least
# privilege, and deploy the example service to both
# clusters at once (build with buildah, push, pin by digest, apply, wait), then show its history.
set -euo pipefail
cd "$(dirname "$0")/.."
deployer=${DEPLOYER:-.venv/bin/deployer}
export DEPLOYER_CONFIG_DIR=${DEPLOYER_CONFIG_DIR:-examples/local}
state=${DEPLOYER_PLATFORM_STATE:-$HOME/.local/state/deployer/platform}
# Terraform state for the GKE provision goes with the platform's GCP stand-in it describes.
export DEPLOYER_TERRAFORM_STATE=${DEPLOYER_TERRAFORM_STATE:-$state/terraform}
# No Terraform registry is reachable here: the google provider comes from a local mirror built
# from its Go module (cached; minutes on first use). A TF_CLI_CONFIG_FILE naming a file that does
# not exist (this machine's environment sets one) is replaced by the mirror's.
if [ ! -f "${TF_CLI_CONFIG_FILE:-}" ]; then
  TF_CLI_CONFIG_FILE=$(./scripts/build-terraform-provider.sh | tail -n 1)
  export TF_CLI_CONFIG_FILE
fi

step() { printf '\n== %s\n' "$*"; }

step "start the local platform (builds the pinned Kubernetes binaries on first use)"
"$deployer" platform up
step "validate cluster and service files"
"$deployer" validate
"$deployer" clusters list
step "sync every cluster's namespaces and RBAC from charts/cluster-base"
"$deployer" cluster sync --all
step "provision the GKE cluster's deployer account with Terraform (minimal IAM), bind and verify it"
"$deployer" cluster provision --all-gke
step "verify each deployer identity has exactly the access the chart grants"
"$deployer" cluster verify --all
step "deploy the example service to both clusters"
"$deployer" deploy hello --env staging --report reports/demo-deploy.json --junit reports/demo-deploy.xml
step "deploy the same commit again: nothing changes"
"$deployer" deploy hello --env staging
step "promote staging's digest to production on local-gke: copied by digest, never rebuilt"
"$deployer" promote hello --from staging --to production
step "what runs where (read from the clusters, checked against the records)"
"$deployer" status hello
"$deployer" history hello
printf '\nThe platform keeps running; stop it with: make down\n'
