"""The producers' partitioner is Kafka's default: murmur2 in native code agrees with aiokafka's pure-Python port of
the Java client (an implementation it shares no code with) on any bytes, and with the Java client's own test vectors;
so every keyed record lands where aiokafka's (and Java's) default partitioner would put it."""

from __future__ import annotations

import uuid

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from servicekit.messaging.kafka_config import producer_options
from servicekit.messaging.partitioner import KafkaDefaultPartitioner, murmur2

# org.apache.kafka.common.utils.UtilsTest.testMurmur2: the Java client's murmur2 (signed 32-bit) of these strings.
JAVA_VECTORS = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


def test_murmur2_gives_the_java_clients_values() -> None:
    for text, signed in JAVA_VECTORS.items():
        assert murmur2(text.encode()) == signed & 0xFFFFFFFF, text


@settings(max_examples=2000)
@given(st.binary(max_size=300))
def test_murmur2_agrees_with_aiokafkas_python_port_on_any_bytes(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data) & 0xFFFFFFFF
    assert murmur2(bytearray(data)) == murmur2(memoryview(data)) == murmur2(data)  # as aiokafka takes them


@settings(max_examples=1000)
@given(st.one_of(st.binary(min_size=0, max_size=80), st.uuids().map(lambda u: str(u).encode())),
       st.integers(min_value=1, max_value=200))
def test_a_keyed_record_goes_where_aiokafkas_default_partitioner_sends_it(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert KafkaDefaultPartitioner()(key, every, every) == DefaultPartitioner()(key, every, every)


def test_a_record_without_key_goes_to_an_available_partition_else_any() -> None:
    chosen: list[list[int]] = []

    def choose(options: list[int]) -> int:
        chosen.append(list(options))
        return options[-1]

    partitioner = KafkaDefaultPartitioner(choose)
    assert partitioner(None, [0, 1, 2, 3], [1, 2]) == 2
    assert partitioner(None, [0, 1, 2, 3], []) == 3
    assert chosen == [[1, 2], [0, 1, 2, 3]]
    assert KafkaDefaultPartitioner()(None, [0, 1, 2], [2]) == 2


def test_every_kit_producer_partitions_with_it() -> None:
    assert isinstance(producer_options("relay")["partitioner"], KafkaDefaultPartitioner)
    lead = str(uuid.uuid4()).encode()
    assert producer_options("relay")["partitioner"](lead, list(range(12)), list(range(12))) == \
        DefaultPartitioner()(lead, list(range(12)), list(range(12)))
