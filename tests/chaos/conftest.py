"""The chaos suite reuses the end-to-end helpers (the launcher's whole system) and the private broker of the
integration suite (a broker it may kill without disturbing the shared one)."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for helpers in ("e2e", "integration"):
    if str(TESTS / helpers) not in sys.path:
        sys.path.insert(0, str(TESTS / helpers))
