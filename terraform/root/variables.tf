variable "project" {
  description = "gke.project of the cluster file."
  type        = string
}

variable "location" {
  description = "gke.location of the cluster file."
  type        = string
}

variable "cluster" {
  description = "gke.cluster of the cluster file."
  type        = string
}

variable "account_id" {
  description = "gke.deployerAccount.accountId of the cluster file."
  type        = string
}

variable "create_key" {
  description = "gke.deployerAccount.createKey of the cluster file."
  type        = bool
  default     = false
}

variable "google_endpoints" {
  description = "Custom Google API endpoints (for a stand-in); null means Google's own."
  type = object({
    iam              = optional(string)
    resource_manager = optional(string)
  })
  default = {}
}
