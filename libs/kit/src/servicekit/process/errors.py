"""How a consumer classifies a failure: transient (retry with backoff) or permanent (dead-letter)."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


class TransientError(Exception):
    """A fault that may go away by itself (a dependency is down, slow or rate limiting)."""

    transient = True


class PermanentError(Exception):
    """A fault that retrying cannot fix; the record is dead-lettered."""

    transient = False


# PostgreSQL's verdicts that retrying the transaction can cure: deadlock detected, serialization failure (two
# batches touching the same rows in another order, or a conflict under REPEATABLE READ / SERIALIZABLE).
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(exc: BaseException) -> bool:
    """True for faults worth retrying. Libraries can opt in with a `transient = True` attribute
    (the PlusVibe client's rate-limit, 5xx, timeout and circuit-open errors do). Database faults: a lost
    connection, a pool timeout, a deadlock or a serialization failure, in any service."""
    flag = getattr(exc, "transient", None)
    if isinstance(flag, bool):
        return flag
    if isinstance(exc, OperationalError | PoolTimeoutError | ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated
                                        or getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES):
        return True
    return isinstance(exc, OSError)
