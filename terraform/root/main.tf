provider "google" {
  project = var.project

  # null leaves the provider's default (https://iam.googleapis.com/v1/ and so on).
  iam_custom_endpoint              = var.google_endpoints.iam
  resource_manager_custom_endpoint = var.google_endpoints.resource_manager
}

module "deployer_account" {
  source = "./modules/gke-deployer"

  project    = var.project
  location   = var.location
  cluster    = var.cluster
  account_id = var.account_id
  create_key = var.create_key
}
