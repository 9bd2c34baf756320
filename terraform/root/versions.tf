# The root configuration deployer runs for one GKE cluster. deployer copies this folder and
# ../modules into the cluster's working folder (under the state folder), then writes next to it:
#   backend.tf.json        the state backend (local file by default, or GCS), one state per cluster
#   terraform.tfvars.json  the variables, from the cluster file (auto-loaded by Terraform)
# Credentials are never written: deployer hands the provider (and the GCS backend) a short-lived
# access token in GOOGLE_OAUTH_ACCESS_TOKEN, so no plan file, state or log holds one.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 4.9.0, < 8.0.0"
    }
  }
}
