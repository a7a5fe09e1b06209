"""The registry a deployment runs with: built-in types, the bundled handlers, and users' own."""

from __future__ import annotations

import importlib

from common.config import Settings
from common.handlers import email, file_upload, pdf
from common.handlers.builtin import register_builtins
from common.handlers.registry import Registry


def build_registry(settings: Settings) -> Registry:
    """Every job type this deployment knows: ``email``, ``pdf`` and ``file_upload`` always.

    Users add their own with JOB_MODULES, a comma-separated list of modules that each define
    ``register(registry: Registry) -> None``.
    """
    registry = Registry()
    if settings.builtin_job_types:
        register_builtins(registry)
    for bundled in (email, pdf, file_upload):
        bundled.register(registry, settings)
    for module_name in settings.job_modules:
        importlib.import_module(module_name).register(registry)
    return registry
