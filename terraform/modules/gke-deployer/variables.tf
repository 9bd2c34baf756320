variable "project" {
  description = "The Google Cloud project of the GKE cluster (gke.project in the cluster file)."
  type        = string
}

variable "cluster" {
  description = "The GKE cluster the account deploys to (gke.cluster); used in its display name and description."
  type        = string
}

variable "location" {
  description = "The cluster's location (gke.location); used in the account's description."
  type        = string
}

variable "account_id" {
  description = "The service account's id, the part before @ (gke.deployerAccount.accountId)."
  type        = string
  default     = "deployer"

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.account_id))
    error_message = "The account_id must be 6 to 30 characters of lowercase letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "create_key" {
  description = <<-EOT
    Opt-in: also create a key for the account. Its private key then lives in Terraform state
    (and anyone who can read the state can act as the account). Prefer impersonation, workload
    identity, or a key pair generated outside Terraform whose public half is uploaded.
  EOT
  type        = bool
  default     = false
}
