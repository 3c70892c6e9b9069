"""The producers' partitioner: Kafka's default for keyed records (the Java client's murmur2 of the key, made positive,
modulo the partition count), so a lead's events land on the partition every other Kafka client would choose.

aiokafka's `DefaultPartitioner` computes the same murmur2 in pure Python: 8.3 µs per 36-byte lead id here, a
relay sends about five records per lead, and the profile of the relays in a burst put 9 % of their CPU in it. The
`murmurhash2` package (a Rust extension) computes it in 0.2 µs. Records without a key go to a random partition, as
aiokafka's does. Where the package is missing (a platform without its wheel), aiokafka's murmur2 serves.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from aiokafka.partitioner import murmur2 as _python_murmur2

# Kafka's murmur2 seed (org.apache.kafka.common.utils.Utils.murmur2).
MURMUR2_SEED = 0x9747B28C

try:
    from murmurhash2 import murmurhash2 as _rust_murmurhash2

    def murmur2(data: bytes) -> int:
        """Kafka's murmur2 of `data` as an unsigned 32-bit value."""
        return int(_rust_murmurhash2(data, MURMUR2_SEED))
except ImportError:  # pragma: no cover - the package is installed wherever the services run
    def murmur2(data: bytes) -> int:
        return int(_python_murmur2(data)) & 0xFFFFFFFF


def python_murmur2(data: bytes) -> int:
    """aiokafka's own pure-Python murmur2, unsigned: the independent judge of `murmur2` in the tests."""
    return int(_python_murmur2(data)) & 0xFFFFFFFF


class KafkaDefaultPartitioner:
    """A partitioner for `AIOKafkaProducer(partitioner=...)` (called with the serialised key, every partition of the
    topic sorted by id, and those with a leader)."""

    def __init__(self, choose: Callable[[Sequence[int]], int] = random.choice) -> None:
        self._choose = choose

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return self._choose(available or all_partitions)
        return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
