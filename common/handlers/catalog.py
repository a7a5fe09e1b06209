"""The registry a deployment runs with: built-in types, the bundled handlers, and users' own."""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from common.config import Settings, current_settings
from common.errors import Misconfigured
from common.handlers import email, file_upload, pdf, webhook
from common.handlers.builtin import register_builtins
from common.handlers.registry import Registry


def build_registry(settings: Settings) -> Registry:
    """Every job type this deployment knows: ``email``, ``pdf``, ``file_upload`` and
    ``webhook`` (the deliveries of callback_url) always.

    Users add their own with JOB_MODULES, a comma-separated list of modules that each define
    ``register(registry: Registry) -> None``; Misconfigured names one that cannot be used.
    """
    registry = Registry(default_max_attempts=settings.max_attempts)
    if settings.builtin_job_types:
        register_builtins(registry)
    for bundled in (email, pdf, file_upload, webhook):
        bundled.register(registry, settings)
    for module_name in settings.job_modules:
        register = getattr(_job_module(module_name), "register", None)
        if not callable(register):
            raise Misconfigured(f"JOB_MODULES: module {module_name!r} defines no register()")
        register(registry)
    return registry


def _job_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise Misconfigured(f"JOB_MODULES: module {name!r} does not import: {exc}") from exc


@cache
def default_registry() -> Registry:
    """The registry of this process's settings (its environment), built on first use."""
    return build_registry(current_settings())
