"""The local stack: every function behind one gateway, a local cron, and moto for S3/SES."""
