"""All functions, for deployment: `functions-framework --source functions/main.py --target NAME`.

The targets are the functions of functions/catalog.py, each exported here under its name;
each also runs alone from its own module (functions/<name>.py).
"""

from functions.catalog import CATALOG

# Module attributes: functions-framework finds --target with getattr on this module.
_targets = CATALOG.targets()
globals().update(_targets)
__all__ = list(_targets)
