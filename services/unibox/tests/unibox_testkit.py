"""Helpers shared by the unibox tests (a uniquely named module: `conftest` names collide across the repo)."""

from __future__ import annotations

import json
from typing import Any

from plusvibe.testing import Sim
from servicekit.testing import Database
from servicekit.web.auth import hash_key
from unibox.settings import UniboxSettings

READ_KEY = "unibox-read-key"
WRITE_KEY = "unibox-write-key"
OTHER_KEY = "leads-only-key"
WEBHOOK_SECRET = "sim-webhook-secret"  # what the simulator's hooks send by default
READ = {"x-api-key": READ_KEY}
WRITE = {"x-api-key": WRITE_KEY}

API_KEYS_JSON = json.dumps([
    {"name": "reader", "sha256": hash_key(READ_KEY), "scopes": ["unibox:read"]},
    {"name": "writer", "sha256": hash_key(WRITE_KEY), "scopes": ["unibox:read", "unibox:write"]},
    {"name": "other", "sha256": hash_key(OTHER_KEY), "scopes": ["leads:read"]},
])


def settings_for(db: Database, **overrides: Any) -> UniboxSettings:
    values: dict[str, Any] = {
        "database_url": db.url,
        "db_schema": db.schema if db.url.startswith("postgresql") else None,
        "api_keys_json": API_KEYS_JSON,
        "webhook_secret": WEBHOOK_SECRET,
        "log_json": False,
    }
    values.update(overrides)
    return UniboxSettings(**values)


def enrol(sim: Sim, email: str, campaign: str = "active", **fields: Any) -> None:
    sim.state.api_lead_add({"workspace_id": sim.workspace_id, "campaign_id": sim.campaigns[campaign],
                            "leads": [{"email": email, "first_name": "Ana", **fields,
                                       "custom_variables": {"email_subject_1": "Your website",
                                                            "email_body_1": "Body one",
                                                            "email_cta_1": "Call?"}}]})


