"""End-to-end fixtures (defined in e2e_testkit.py, a unique module name)."""

from e2e_testkit import e2e, running_system

__all__ = ["e2e", "running_system"]
