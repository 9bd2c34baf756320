output "email" {
  description = "The service account's email: the user name GKE's RBAC bindings use (kind: User)."
  value       = google_service_account.deployer.email
}

output "name" {
  description = "The service account's resource name (projects/P/serviceAccounts/EMAIL)."
  value       = google_service_account.deployer.name
}

output "unique_id" {
  description = "The service account's numeric id."
  value       = google_service_account.deployer.unique_id
}

output "project_role" {
  description = "The only project role the account holds."
  value       = google_project_iam_member.cluster_viewer.role
}

output "key_name" {
  description = "The resource name of the key, when create_key is on; null otherwise."
  value       = var.create_key ? google_service_account_key.deployer[0].name : null
}

output "key_file" {
  description = "The key file (JSON) when create_key is on; null otherwise. Sensitive: it is a credential."
  value       = var.create_key ? base64decode(google_service_account_key.deployer[0].private_key) : null
  sensitive   = true
}
