"""The registry a deployment runs with: built-in types, the bundled handlers, and users' own."""

from __future__ import annotations

import importlib
from functools import cache

from common.config import Settings, current_settings
from common.handlers import email, file_upload, pdf, webhook
from common.handlers.builtin import register_builtins
from common.handlers.registry import Registry


def build_registry(settings: Settings) -> Registry:
    """Every job type this deployment knows: ``email``, ``pdf``, ``file_upload`` and
    ``webhook`` (the deliveries of callback_url) always.

    Users add their own with JOB_MODULES, a comma-separated list of modules that each define
    ``register(registry: Registry) -> None``.
    """
    registry = Registry(default_max_attempts=settings.max_attempts)
    if settings.builtin_job_types:
        register_builtins(registry)
    for bundled in (email, pdf, file_upload, webhook):
        bundled.register(registry, settings)
    for module_name in settings.job_modules:
        importlib.import_module(module_name).register(registry)
    return registry


@cache
def default_registry() -> Registry:
    """The registry of this process's settings (its environment), built on first use."""
    return build_registry(current_settings())
