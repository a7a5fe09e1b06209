# A Cloud Run function per function of definitions.json, each with its own service account
# granted only what it uses; plus migrate-database, private, called once per deploy.
resource "google_storage_bucket" "source" {
  name                        = "${var.project}-skiplock-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
}

resource "google_storage_bucket_object" "source" {
  # A new archive is a new object, and so a new revision of every function.
  name   = "skiplock-${filesha256(var.source_archive)}.zip"
  bucket = google_storage_bucket.source.name
  source = var.source_archive
}

resource "google_service_account" "functions" {
  for_each     = toset(concat(keys(local.functions), ["migrate-database"]))
  account_id   = "skiplock-${each.key}"
  display_name = "skiplock ${each.key}"
}

resource "google_secret_manager_secret_iam_member" "database_url" {
  for_each  = google_service_account.functions
  secret_id = google_secret_manager_secret.secrets["database-url"].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${each.value.email}"
}

# Ticks are private services: Cloud Run checks the scheduler's OIDC token, so they carry no
# API token. The HTTP functions are public and check API_TOKEN themselves.
resource "google_secret_manager_secret_iam_member" "api_token" {
  for_each  = local.http
  secret_id = google_secret_manager_secret.secrets["api-token"].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.functions[each.key].email}"
}

locals {
  # The settings' variables (settings.tf.json), then what this deployment fixes.
  environment = merge(
    local.settings_environment,
    {
      S3_BUCKET                        = google_storage_bucket.jobs.name
      AWS_ENDPOINT_URL_S3              = "https://storage.googleapis.com"
      AWS_REGION                       = "auto"
      AWS_REQUEST_CHECKSUM_CALCULATION = "when_required" # GCS's S3 API lacks the new checksums
    },
    var.extra_environment,
  )
}

resource "google_cloudfunctions2_function" "functions" {
  for_each = local.functions
  name     = each.key
  location = var.region

  build_config {
    runtime     = "python311"
    entry_point = each.value.entry_point
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory              = "${each.value.memory_mb}M"
    timeout_seconds               = each.value.timeout_seconds
    max_instance_count            = var.max_instances
    service_account_email         = google_service_account.functions[each.key].email
    ingress_settings              = "ALLOW_ALL"
    vpc_connector                 = google_vpc_access_connector.skiplock.id
    vpc_connector_egress_settings = "PRIVATE_RANGES_ONLY"
    environment_variables         = local.environment

    secret_environment_variables {
      key        = "DATABASE_URL"
      project_id = var.project
      secret     = google_secret_manager_secret.secrets["database-url"].secret_id
      version    = "latest"
    }

    dynamic "secret_environment_variables" {
      for_each = each.value.trigger == "http" ? ["API_TOKEN"] : []
      content {
        key        = secret_environment_variables.value
        project_id = var.project
        secret     = google_secret_manager_secret.secrets["api-token"].secret_id
        version    = "latest"
      }
    }

    dynamic "secret_environment_variables" {
      for_each = { for k, v in local.setting_secrets : k => v if contains(v.readers, each.key) }
      content {
        key        = secret_environment_variables.key
        project_id = var.project
        secret     = google_secret_manager_secret.settings[secret_environment_variables.key].secret_id
        version    = "latest"
      }
    }

    dynamic "secret_environment_variables" {
      for_each = contains(each.value.uses, "bucket") ? local.hmac_variables : {}
      content {
        key        = secret_environment_variables.key
        project_id = var.project
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  # timeout_seconds is also the Cloud Run request timeout: what an HTTP caller waits at most.
  lifecycle {
    precondition {
      condition     = var.lease_seconds > each.value.timeout_seconds
      error_message = "lease_seconds must exceed every function's timeout, or a job could run twice at once."
    }
    precondition {
      condition = alltrue([
        for s in local.definitions.schedules :
        0 < tonumber(local.environment[s.budget_setting]) &&
        tonumber(local.environment[s.budget_setting]) < each.value.timeout_seconds
        if s.target == each.key
      ])
      error_message = "A tick's budget (worker_budget_seconds, schedule_budget_seconds) must be above 0 and below its function's timeout."
    }
  }

  depends_on = [
    google_secret_manager_secret_version.database_url,
    google_secret_manager_secret_version.api_token,
    google_secret_manager_secret_iam_member.database_url,
    google_secret_manager_secret_iam_member.api_token,
    google_secret_manager_secret_iam_member.hmac,
    google_secret_manager_secret_version.settings,
    google_secret_manager_secret_iam_member.settings,
  ]
}

resource "google_cloud_run_service_iam_member" "public" {
  for_each = local.http
  location = var.region
  service  = google_cloudfunctions2_function.functions[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloudfunctions2_function" "migrate" {
  name     = "migrate-database"
  location = var.region

  build_config {
    runtime     = "python311"
    entry_point = "migrate_database"
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory              = "512M"
    timeout_seconds               = 300
    max_instance_count            = 1
    service_account_email         = google_service_account.functions["migrate-database"].email
    ingress_settings              = "ALLOW_ALL"
    vpc_connector                 = google_vpc_access_connector.skiplock.id
    vpc_connector_egress_settings = "PRIVATE_RANGES_ONLY"
    secret_environment_variables {
      key        = "DATABASE_URL"
      project_id = var.project
      secret     = google_secret_manager_secret.secrets["database-url"].secret_id
      version    = "latest"
    }
  }

  depends_on = [
    google_secret_manager_secret_version.database_url,
    google_secret_manager_secret_iam_member.database_url,
  ]
}
