# A Secret Manager secret per secret setting of definitions.json (SMTP_PASSWORD...), made with
# a random value: put yours as a new version (`gcloud secrets versions add SECRET_ID
# --data-file=-`); the functions read "latest" when they start. DATABASE_URL and API_TOKEN
# are in database.tf.
resource "random_password" "settings" {
  for_each = local.setting_secrets
  length   = 48
  special  = false
}

resource "google_secret_manager_secret" "settings" {
  for_each  = local.setting_secrets
  secret_id = each.value.secret_id
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "settings" {
  for_each    = local.setting_secrets
  secret      = google_secret_manager_secret.settings[each.key].id
  secret_data = random_password.settings[each.key].result
}

resource "google_secret_manager_secret_iam_member" "settings" {
  for_each = {
    for pair in flatten([
      for setting, s in local.setting_secrets : [
        for reader in s.readers : { setting = setting, reader = reader }
      ]
    ]) : "${pair.setting}/${pair.reader}" => pair
  }
  secret_id = google_secret_manager_secret.settings[each.value.setting].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.functions[each.value.reader].email}"
}
