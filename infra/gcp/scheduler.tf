# A Cloud Scheduler job per schedule, calling its tick with an OIDC token of this account.
# Delivery is at least once and runs may overlap: the ticks are built for both (claims skip
# locked rows, leases fence stale workers), so a failed run is not retried: the next one runs.
resource "google_service_account" "scheduler" {
  account_id   = "skiplock-scheduler"
  display_name = "skiplock scheduler: invokes the ticks"
}

resource "google_cloud_run_service_iam_member" "scheduler" {
  for_each = toset([for s in local.schedules : s.target])
  location = var.region
  service  = google_cloudfunctions2_function.functions[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_scheduler_job" "ticks" {
  for_each         = local.schedules
  name             = "skiplock-${each.key}"
  region           = var.region
  schedule         = each.value.cron
  time_zone        = "Etc/UTC"
  attempt_deadline = "${local.functions[each.value.target].timeout_seconds + 10}s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${google_cloudfunctions2_function.functions[each.value.target].url}${each.value.path}"
    headers     = { "Content-Type" = "application/json" }
    # The budget the tick's own setting gives: a tick that names none gets the HTTP one.
    body = base64encode(jsonencode({
      budget_seconds = tonumber(local.environment[each.value.budget_setting])
    }))
    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.functions[each.value.target].url
    }
  }

  depends_on = [google_cloud_run_service_iam_member.scheduler]
}
