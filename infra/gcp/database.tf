resource "google_sql_database_instance" "skiplock" {
  name                = "skiplock"
  database_version    = "MYSQL_8_0"
  region              = var.region
  deletion_protection = var.deletion_protection
  depends_on          = [google_service_networking_connection.private_services]

  settings {
    tier              = var.database_tier
    availability_type = var.database_high_availability ? "REGIONAL" : "ZONAL"
    backup_configuration {
      enabled            = true
      binary_log_enabled = true
    }
    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.skiplock.id
    }
  }
}

resource "google_sql_database" "skiplock" {
  name     = "skiplock"
  instance = google_sql_database_instance.skiplock.name
}

resource "random_password" "database" {
  length  = 32
  special = false
}

resource "google_sql_user" "skiplock" {
  name     = "skiplock"
  instance = google_sql_database_instance.skiplock.name
  host     = "%"
  password = random_password.database.result
}

# Secrets: read by the functions as environment variables. Their values are in the Terraform
# state too: keep the state in a private, encrypted backend.
resource "random_password" "api_token" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "secrets" {
  for_each  = toset(["database-url", "api-token"])
  secret_id = "skiplock-${each.key}"
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "database_url" {
  secret = google_secret_manager_secret.secrets["database-url"].id
  secret_data = format(
    "mysql+pymysql://%s:%s@%s:3306/%s",
    google_sql_user.skiplock.name,
    random_password.database.result,
    google_sql_database_instance.skiplock.private_ip_address,
    google_sql_database.skiplock.name,
  )
}

resource "google_secret_manager_secret_version" "api_token" {
  secret      = google_secret_manager_secret.secrets["api-token"].id
  secret_data = random_password.api_token.result
}
