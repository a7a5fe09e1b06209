"""The serverless functions: thin HTTP adapters over common/. See functions/main.py."""
