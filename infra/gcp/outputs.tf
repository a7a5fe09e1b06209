output "function_urls" {
  description = "Each function's URL; it serves its routes (definitions.json) under it"
  value       = { for name, f in google_cloudfunctions2_function.functions : name => f.url }
}

output "migrate_url" {
  description = "POST here with an identity token to migrate (deploy.sh does)"
  value       = google_cloudfunctions2_function.migrate.url
}

output "api_token_secret" {
  description = "gcloud secrets versions access latest --secret <this>"
  value       = google_secret_manager_secret.secrets["api-token"].secret_id
}

output "database_connection_name" {
  value = google_sql_database_instance.skiplock.connection_name
}
