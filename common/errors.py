"""The error tree. Each error carries its HTTP status; functions/_http.py turns them into JSON."""

from __future__ import annotations


class SkiplockError(Exception):
    """Internal error."""

    status = 500
    code = "internal"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.code).strip())
        self.message = str(self.args[0])
        self.field = field


class ValidationError(SkiplockError):
    """Invalid input."""

    status = 400
    code = "invalid"


class Unauthorized(SkiplockError):
    """A valid bearer token is required."""

    status = 401
    code = "unauthorized"


class NotFound(SkiplockError):
    """Not found."""

    status = 404
    code = "not_found"


class MethodNotAllowed(SkiplockError):
    """Method not allowed."""

    status = 405
    code = "method_not_allowed"

    def __init__(
        self, message: str | None = None, *, field: str | None = None, allowed: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, field=field)
        self.allowed = allowed  # the Allow header of the answer


class IllegalTransition(SkiplockError):
    """That status change is not allowed."""

    status = 409
    code = "illegal_transition"


class LeaseLost(SkiplockError):
    """The job's lease expired or was taken over by another worker; this result is discarded."""

    status = 409
    code = "lease_lost"


class SubmissionConflict(SkiplockError):
    """The database rolled back this transaction to break a deadlock with a concurrent
    submission (one idempotency key submitted by several at once, or bulk submissions sharing
    keys in another order): nothing of the transaction was kept. Run it again: it then finds
    the other's job (common.db.run_in_transaction does so by itself)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(SkiplockError):
    """The request body is larger than MAX_PAYLOAD_BYTES."""

    status = 413
    code = "payload_too_large"


class RequestTimeout(SkiplockError):
    """The request body did not arrive in time (REQUEST_BODY_SECONDS)."""

    status = 408
    code = "request_timeout"


class Misconfigured(SkiplockError):
    """The deployment's settings do not work together; the message says what to change."""

    status = 503
    code = "misconfigured"


class DatabaseUnavailable(SkiplockError):
    """The database cannot be reached."""

    status = 503
    code = "database_unavailable"


class DatabaseReadOnly(SkiplockError):
    """The database takes no writes now (read-only, out of space, or no write grant); nothing
    was written: try again later."""

    status = 503
    code = "database_read_only"


class JobError(Exception):
    """A handler failed; the job is retried after its backoff (or dead-lettered when out of
    attempts). Any unexpected exception from a handler counts as this."""


class PermanentJobError(JobError):
    """A handler failed in a way retrying cannot fix (invalid address, rejected message): the
    job goes to the DLQ at once, without using its remaining attempts."""
