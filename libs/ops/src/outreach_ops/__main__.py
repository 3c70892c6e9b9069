"""`python -m outreach_ops ...` — the same CLI as the `outreach-ops` console script."""

from outreach_ops.cli import main

main()
