from ops_kafka_helpers import ops_topic

__all__ = ["ops_topic"]
