variable "project" {
  description = "Google Cloud project id"
  type        = string
}

variable "region" {
  description = "Region of the functions, the database and the scheduler"
  type        = string
  default     = "europe-west1"
}

variable "source_archive" {
  description = "Path of the source zip from `python -m infra.package --target gcp`"
  type        = string
  default     = "../../build/skiplock-gcp-source.zip"
}

variable "database_tier" {
  description = "Cloud SQL machine type"
  type        = string
  default     = "db-custom-1-3840"
}

variable "database_high_availability" {
  description = "A standby in a second zone (REGIONAL availability)"
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse to destroy the database"
  type        = bool
  default     = true
}

variable "ses_sender" {
  description = "SES_SENDER: address the email jobs send from"
  type        = string
  default     = "skiplock@example.com"
}

variable "lease_seconds" {
  description = "LEASE_SECONDS: must exceed every function's timeout"
  type        = number
  default     = 120
}

variable "settings" {
  description = "Further settings as environment variables, e.g. { MAX_ATTEMPTS = \"8\" }"
  type        = map(string)
  default     = {}
}

variable "max_instances" {
  description = "Most instances of each function; caps the database connections (worker_tick's is its concurrency)"
  type        = number
  default     = 10
}
