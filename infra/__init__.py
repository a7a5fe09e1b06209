"""Deployment descriptors, generated from the catalog of functions (functions/catalog.py)."""
