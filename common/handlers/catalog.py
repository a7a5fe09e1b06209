"""The registry a deployment runs with: built-in types, the bundled handlers, and users' own."""

from __future__ import annotations

import importlib
import os

from common.config import Settings
from common.handlers.builtin import register_builtins
from common.handlers.registry import Registry


def build_registry(settings: Settings) -> Registry:
    """Every job type this deployment knows.

    Users add their own with JOB_MODULES, a comma-separated list of modules that each define
    ``register(registry: Registry) -> None``.
    """
    registry = Registry()
    if settings.builtin_job_types:
        register_builtins(registry)
    for module_name in filter(None, os.environ.get("JOB_MODULES", "").split(",")):
        importlib.import_module(module_name.strip()).register(registry)
    return registry
