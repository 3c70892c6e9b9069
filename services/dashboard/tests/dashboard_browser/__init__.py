"""Browser tests of the dashboard (a package, so its conftest never shadows another `conftest` module)."""
