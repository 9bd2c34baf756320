output "service_account_email" {
  description = "Bind this email (kind: User) to the deployer role in the cluster."
  value       = module.deployer_account.email
}

output "service_account_name" {
  value = module.deployer_account.name
}

output "service_account_unique_id" {
  value = module.deployer_account.unique_id
}

output "project_role" {
  value = module.deployer_account.project_role
}

output "key_name" {
  value = module.deployer_account.key_name
}

output "key_file" {
  description = "Only with create_key. Read it with `terraform output -raw key_file` in the working folder."
  value       = module.deployer_account.key_file
  sensitive   = true
}
