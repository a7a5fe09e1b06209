# skiplock on Google Cloud: Cloud Run functions (2nd gen), Cloud Scheduler with OIDC for the
# ticks, Cloud SQL for MySQL 8 on a private IP, Secret Manager. The functions and schedules come
# from definitions.json, written from functions/catalog.py by `python -m infra.gcp`.
terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

locals {
  definitions = jsondecode(file("${path.module}/definitions.json"))
  functions   = { for f in local.definitions.functions : f.name => f }
  schedules   = { for s in local.definitions.schedules : s.name => s }
  http        = { for name, f in local.functions : name => f if f.trigger == "http" }
  # What a scheduled run of each tick may take, as the setting its schedule names
  # (WORKER_BUDGET_SECONDS, SCHEDULE_BUDGET_SECONDS): the function reads the same value.
  budgets = {
    for name, f in local.functions : name => merge([
      for s in local.definitions.schedules : { (s.budget_setting) = tostring(s.budget_seconds) }
      if s.target == name
    ]...) if f.trigger == "schedule"
  }
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "vpcaccess.googleapis.com",
  ])
  service            = each.value
  disable_on_destroy = false
}
