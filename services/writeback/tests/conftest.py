import sys
from pathlib import Path

# Makes `writeback_testkit` importable (a uniquely named helper module; the repo runs without __init__ files).
sys.path.insert(0, str(Path(__file__).parent))
