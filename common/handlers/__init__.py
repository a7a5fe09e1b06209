"""Job types: the registry that maps a job's type to its handler, and the built-in types."""

from common.handlers.registry import Job, JobContext, JobType, Registry

__all__ = ["Job", "JobContext", "JobType", "Registry"]
