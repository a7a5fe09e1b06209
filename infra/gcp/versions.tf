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
  # Each secret setting of definitions.json, with the functions that read it: all of them,
  # those of a trigger, or those that use a resource (as infra/settings.py says).
  setting_secrets = {
    for s in local.definitions.secrets : s.setting => merge(s, {
      readers = [
        for name, f in local.functions : name
        if contains(concat(["all", f.trigger], f.uses), s.needed_by)
      ]
    })
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
