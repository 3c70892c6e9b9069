import sys
from pathlib import Path

# Makes `kit_apps.counter_service` importable for in-process use and as `python -m` for subprocesses.
TESTS_DIR = Path(__file__).parent
sys.path.insert(0, str(TESTS_DIR))
