# Cloud SQL gets a private IP in this network; the functions reach it through the connector.
resource "google_compute_network" "skiplock" {
  name                    = "skiplock"
  auto_create_subnetworks = false
  depends_on              = [google_project_service.apis]
}

resource "google_compute_global_address" "private_services" {
  name          = "skiplock-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 16
  network       = google_compute_network.skiplock.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.skiplock.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}

resource "google_vpc_access_connector" "skiplock" {
  name          = "skiplock"
  region        = var.region
  network       = google_compute_network.skiplock.name
  ip_cidr_range = "10.8.0.0/28"
  min_instances = 2
  max_instances = 3
}
