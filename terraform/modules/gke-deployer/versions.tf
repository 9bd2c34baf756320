terraform {
  # check blocks (the create_key warning) need Terraform 1.5 or OpenTofu 1.6.
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # Only long-stable arguments of google_service_account, google_project_iam_member and
      # google_service_account_key are used: any 4.x to 7.x provider serves them.
      version = ">= 4.9.0, < 8.0.0"
    }
  }
}
