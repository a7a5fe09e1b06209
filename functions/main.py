"""All functions, for deployment: `functions-framework --source functions/main.py --target NAME`.

Each function also runs alone from its own module (functions/<name>.py).
"""

from functions.list_jobs import list_jobs
from functions.schedule_tick import schedule_tick
from functions.submit_job import submit_job
from functions.update_jobs import update_jobs
from functions.worker_tick import worker_tick

__all__ = ["list_jobs", "schedule_tick", "submit_job", "update_jobs", "worker_tick"]
