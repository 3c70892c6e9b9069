"""Which custom-variable storage rule a PlusVibe workspace uses (docs/TEMPLATES.md §4): configured, else
detected from a lead this service wrote (`GET /lead/get` shows the stored keys), else not known (None: the guard
then judges under both rules)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.send_dry_run.context import CUSTOM_PREFIX, StorageRule
from plusvibe.errors import PlusVibeError
from plusvibe.port import PlusVibePort

log = logging.getLogger(__name__)
AUTO = "auto"


async def storage_rule(uow: LeadsUnitOfWork, *, configured: str, workspace_id: str) -> StorageRule | None:
    """Inside an open unit of work."""
    if configured != AUTO:
        return StorageRule(configured)
    row = await uow.leads.storage_rule(workspace_id)
    return StorageRule(row.rule) if row is not None else None


def rule_from_lead_data(sent: Mapping[str, str], stored: Mapping[str, object]) -> tuple[StorageRule, str] | None:
    """The rule, with its evidence, from what was sent and what `lead_data` reads back; None if it cannot tell.
    Only keys without the prefix are telling (`custom_x` sent reads back as itself under `verbatim`)."""
    for key, value in sorted(sent.items()):
        if key.startswith(CUSTOM_PREFIX) or not value.strip():
            continue
        if key in stored and CUSTOM_PREFIX + key not in stored:
            return StorageRule.VERBATIM, f"sent {key!r}, /lead/get shows {key!r}"
        if CUSTOM_PREFIX + key in stored and key not in stored:
            return StorageRule.PREFIXED, f"sent {key!r}, /lead/get shows {CUSTOM_PREFIX + key!r}"
    return None


async def detect_storage_rule(
    new_uow: Callable[[], LeadsUnitOfWork],
    plusvibe: PlusVibePort,
    *,
    workspace_id: str,
    email: str,
    campaign_id: str,
    sent: Mapping[str, str],
) -> StorageRule | None:
    """Read back a lead just written and record the workspace's rule. One PlusVibe call; a failure leaves the
    rule unknown (the next push tries again) and never fails the push that was already made."""
    try:
        rows = await plusvibe.get_lead(email, campaign_id)
    except PlusVibeError as exc:
        log.warning("custom-variable storage rule not detected: %s", type(exc).__name__)
        return None
    for row in rows:
        stored = row.lead_data.extras
        nested = stored.get("custom_variables")
        found = rule_from_lead_data(sent, nested if isinstance(nested, Mapping) else stored)
        if found is None:
            continue
        rule, evidence = found
        async with new_uow() as uow:
            await uow.leads.save_storage_rule(workspace_id, rule.value, evidence, datetime.now(UTC))
            await uow.commit()
        log.info("custom-variable storage rule of workspace %s: %s (%s)", workspace_id, rule.value, evidence)
        return rule
    return None
