import sys
from pathlib import Path

# The kit's test factories (`kit_factories`) serve these tests too: libs/kit/tests on the path, as its conftest does.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "kit" / "tests"))

from ops_kafka_helpers import ops_topic

__all__ = ["ops_topic"]
