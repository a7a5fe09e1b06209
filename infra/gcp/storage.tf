# The jobs' bucket. The job handlers write through the S3 API (boto3), which Cloud Storage
# serves at storage.googleapis.com with an HMAC key of the writing function's service account.
resource "google_storage_bucket" "jobs" {
  name                        = "${var.project}-skiplock-jobs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
}

locals {
  writers = { for name, f in local.functions : name => f if contains(f.uses, "bucket") }
  # Environment variable -> secret, for the functions that write the bucket.
  hmac_variables = {
    AWS_ACCESS_KEY_ID     = "skiplock-hmac-access-id"
    AWS_SECRET_ACCESS_KEY = "skiplock-hmac-secret"
  }
}

resource "google_storage_bucket_iam_member" "writers" {
  for_each = local.writers
  bucket   = google_storage_bucket.jobs.name
  role     = "roles/storage.objectCreator"
  member   = "serviceAccount:${google_service_account.functions[each.key].email}"
}

resource "google_storage_hmac_key" "writer" {
  # One writer today (worker-tick); a key per writer would need a secret per writer too.
  service_account_email = google_service_account.functions[one(keys(local.writers))].email
}

resource "google_secret_manager_secret" "hmac" {
  for_each  = local.hmac_variables
  secret_id = each.value
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "hmac" {
  for_each = local.hmac_variables
  secret   = google_secret_manager_secret.hmac[each.key].id
  secret_data = (
    each.key == "AWS_ACCESS_KEY_ID"
    ? google_storage_hmac_key.writer.access_id
    : google_storage_hmac_key.writer.secret
  )
}

resource "google_secret_manager_secret_iam_member" "hmac" {
  for_each = {
    for pair in setproduct(keys(local.writers), keys(local.hmac_variables)) :
    "${pair[0]}/${pair[1]}" => { function = pair[0], variable = pair[1] }
  }
  secret_id = google_secret_manager_secret.hmac[each.value.variable].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.functions[each.value.function].email}"
}
