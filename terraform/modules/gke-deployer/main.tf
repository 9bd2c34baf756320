# The Google identity deployer uses on one GKE cluster. Its Google IAM is deliberately almost
# nothing: it may see the cluster (container.clusterViewer, which is enough to fetch the cluster's
# endpoint and to authenticate to it); everything it may do inside the cluster comes from the
# Kubernetes RBAC binding that `deployer cluster provision` makes for its email (kind: User).

locals {
  # The only project role this module grants. Not a variable on purpose: more Google IAM for the
  # deployer is a change to this module, reviewed as such.
  project_role = "roles/container.clusterViewer"
}

resource "google_service_account" "deployer" {
  project      = var.project
  account_id   = var.account_id
  display_name = "deployer (${var.cluster})"
  description  = "deployer's identity on GKE cluster ${var.cluster} in ${var.location}; its Kubernetes access is RBAC bound to this email. Managed by deployer through Terraform."
}

resource "google_project_iam_member" "cluster_viewer" {
  project = var.project
  role    = local.project_role
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_service_account_key" "deployer" {
  count              = var.create_key ? 1 : 0
  service_account_id = google_service_account.deployer.name
}

check "private_key_in_state" {
  assert {
    condition     = !var.create_key
    error_message = "create_key is on: the private key of ${var.account_id}@${var.project}.iam.gserviceaccount.com is stored in this Terraform state, and whoever can read the state can act as that account. Prefer impersonation (credential type applicationDefault with impersonate), workload identity, or a key generated outside Terraform."
  }
}
