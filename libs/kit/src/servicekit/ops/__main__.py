"""`python -m servicekit.ops ...` — the same CLI as the `outreach-ops` console script."""

from servicekit.ops.cli import main

main()
