"""Deployment descriptors, and the definitions (infra/functions.toml) they and local/ share."""
