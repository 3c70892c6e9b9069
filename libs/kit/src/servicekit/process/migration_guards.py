"""Guards for migrations whose downgrade would lose or merge data: the downgrade stops, naming why, instead of
silently folding several workspaces into one or bringing deleted rows back."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def refuse_downgrade_if_any(query: str, why: str) -> None:
    """Raises before the downgrade changes anything when `query` (a SELECT) returns a row."""
    if op.get_bind().execute(sa.text(query)).first() is not None:
        raise RuntimeError(f"downgrade refused: {why}")
