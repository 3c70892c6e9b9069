import random

from sqlalchemy.exc import OperationalError

from servicekit.messaging.retry import backoff_delays
from servicekit.process.errors import PermanentError, TransientError, is_transient


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    gen = backoff_delays(base_s=0.1, cap_s=2.0, rng=random.Random(1))
    delays = [next(gen) for _ in range(12)]
    assert 0.05 <= delays[0] <= 0.1
    assert all(1.0 <= d <= 2.0 for d in delays[6:])
    assert len(set(delays)) == len(delays)


class _Flagged(Exception):
    transient = True


def test_classifies_transient_and_permanent_faults() -> None:
    assert is_transient(TransientError())
    assert is_transient(_Flagged())
    assert is_transient(OperationalError("select 1", {}, Exception("connection refused")))
    assert is_transient(ConnectionResetError())
    assert not is_transient(PermanentError())
    assert not is_transient(ValueError("bad data"))
    assert not is_transient(KeyError("x"))


def test_plusvibe_client_errors_classify_as_the_kit_expects() -> None:
    from plusvibe.errors import (
        AmbiguousSendError,
        AuthenticationError,
        CircuitOpenError,
        PermanentError,
        RateLimitedError,
        TransientError,
    )

    assert is_transient(TransientError("503"))
    assert is_transient(RateLimitedError("429", retry_after=1.0))
    assert is_transient(CircuitOpenError("open", retry_in=5.0))
    assert not is_transient(PermanentError("400"))
    assert not is_transient(AuthenticationError("401"))
    assert not is_transient(AmbiguousSendError("dropped"))  # never retried blindly
