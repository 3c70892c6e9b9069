"""In-memory PlusVibe: workspaces, campaigns, mailboxes, leads, Unibox, hooks, the send loop.

Every public method takes the state lock, so the server thread and a test thread may both use it.
API-facing methods raise ``SimError(status, message)``; the app turns it into an error body.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plusvibe.simulator.faults import FaultPlan
from plusvibe.simulator.lead_fields import CUSTOM_STORAGE_RULES, STANDARD_FIELDS, rendering_context, store_custom
from plusvibe.simulator.render import Rendered, Renderer
from plusvibe.simulator.sequences import normalise_sequences
from plusvibe.simulator.sim_error import SimError

__all__ = ["LEAD_FIELDS", "SimError", "SimulatorState"]

LEAD_FIELDS = STANDARD_FIELDS  # the fields /lead/add stores (docs/TEMPLATES.md §1)

STOPPED_STATUSES = {"COMPLETED", "BOUNCED", "REPLIED", "UNSUBSCRIBED", "SKIPPED"}
POSITIVE_LABELS = {"INTERESTED", "MEETING_BOOKED", "MEETING_COMPLETED", "CLOSED"}
NEGATIVE_LABELS = {"NOT_INTERESTED", "WRONG_PERSON", "DO_NOT_CONTACT"}


@dataclass
class RequestRecord:
    at: float  # wall clock (time.time)
    mono: float  # time.monotonic, for window counting
    method: str
    path: str
    status: int
    key: str  # key fingerprint, never the key
    fault: str = ""
    lead: str = ""  # the lead's email, for the calls about one lead (`/lead/get`, `/lead/data/update`)


@dataclass
class Delivery:
    hook_id: str
    url: str
    secret: str | None
    payload: dict[str, Any]
    attempts: int = 0
    next_at: float = 0.0
    delivered: bool = False
    last_error: str = ""


# The PlusVibe workspace of the `second-client` seed (a second agency client, for the workspaces demo).
SECOND_CLIENT_WORKSPACE = "65f3c92d3dbe5dbb35374b2b"


@dataclass
class SimulatorState:
    """The whole simulated account. ``api_key`` is the one valid key (more via ``api_keys``)."""

    api_key: str = "sim-api-key"
    rate_limit_per_s: float = 5.0
    unibox_page_size: int = 20
    render_seed: str = "sim"
    webhook_secret: str | None = "sim-webhook-secret"
    webhook_max_attempts: int = 5
    persist_path: str | None = None
    api_keys: set[str] = field(default_factory=set)
    workspaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    mailboxes: dict[str, dict[str, Any]] = field(default_factory=dict)
    leads: dict[str, dict[str, Any]] = field(default_factory=dict)
    emails: list[dict[str, Any]] = field(default_factory=list)
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    empty_placeholders: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    # Every applied `/lead/data/update` (email, campaign, wall time): the request log has no bodies, and a judge
    # of "at most one update per lead" needs to know whom each update was for.
    variable_updates: list[dict[str, Any]] = field(default_factory=list)
    tick_count: int = 0
    custom_storage: str = "verbatim"  # how custom variables are stored: "verbatim" | "prefixed"
    judge_all_variants: bool = False  # judge every variation and random option of each step sent

    def __post_init__(self) -> None:
        if self.custom_storage not in CUSTOM_STORAGE_RULES:
            raise ValueError(f"custom_storage must be one of {CUSTOM_STORAGE_RULES}")
        self.api_keys.add(self.api_key)
        self.lock = threading.RLock()
        self.faults = FaultPlan()
        self.renderer = Renderer(self.render_seed)
        self._ids = itertools.count(1)
        self._windows: dict[str, deque[float]] = {}
        if self.persist_path and Path(self.persist_path).exists():
            self.load(self.persist_path)

    def __repr__(self) -> str:
        return (
            f"SimulatorState(workspaces={len(self.workspaces)}, campaigns={len(self.campaigns)}, "
            f"leads={len(self.leads)}, tick={self.tick_count})"
        )

    # --- ids, time ---------------------------------------------------------------------------
    def new_id(self, kind: str) -> str:
        return hashlib.sha256(f"{kind}:{next(self._ids)}".encode()).hexdigest()[:24]

    @staticmethod
    def now_iso() -> str:
        return datetime.now(UTC).isoformat().replace("+00:00", "Z")

    # --- auth, rate limit, request log ---------------------------------------------------------
    def key_known(self, key: str | None) -> bool:
        return key is not None and key in self.api_keys

    def rate_limited(self, key_fp: str, now: float | None = None) -> bool:
        """Sliding one-second window per key: the request is refused when the window is full."""
        t = time.monotonic() if now is None else now
        with self.lock:
            window = self._windows.setdefault(key_fp, deque())
            while window and t - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.rate_limit_per_s:
                return True
            window.append(t)
            return False

    def log_request(
        self, method: str, path: str, status: int, key_fp: str, fault: str = "", at_mono: float | None = None,
        lead: str = "",
    ) -> RequestRecord:
        with self.lock:
            mono = time.monotonic() if at_mono is None else at_mono
            record = RequestRecord(time.time(), mono, method, path, status, key_fp, fault, lead)
            self.requests.append(record)
            if len(self.requests) > 200_000:  # bounded memory for long demo runs
                del self.requests[:20_000]
            return record

    def request_log(self, path: str | None = None) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def max_requests_in_any_second(self, path: str | None = None) -> int:
        """Largest number of requests the simulator received in any 1-second window."""
        return max_in_any_second([r.mono for r in self.request_log(path)])

    # --- workspace helpers -------------------------------------------------------------------
    def workspace(self, workspace_id: str | None) -> dict[str, Any]:
        if not workspace_id:
            raise SimError(400, "workspace_id is required")
        ws = self.workspaces.get(workspace_id)
        if ws is None:
            raise SimError(400, "invalid workspace_id")
        return ws

    def add_workspace(self, name: str, workspace_id: str | None = None) -> str:
        with self.lock:
            wid = workspace_id or self.new_id("ws")
            self.workspaces[wid] = {"_id": wid, "name": name}
            return wid

    def add_mailbox(
        self, workspace_id: str, email: str, first_name: str, last_name: str, signature: str | None = None
    ) -> str:
        with self.lock:
            mid = self.new_id("mb")
            self.mailboxes[mid] = {
                "_id": mid,
                "workspace_id": workspace_id,
                "email": email,
                "status": "ACTIVE",
                "warmup_status": "ACTIVE",
                "provider": "GOOGLE_WORKSPACE",
                "timestamp_created": self.now_iso(),
                "timestamp_updated": self.now_iso(),
                "payload": {
                    "name": {"first_name": first_name, "last_name": last_name},
                    "daily_limit": 30,
                    "sending_gap": 10,
                    "tags": [],
                },
            }
            if signature is not None:
                self.mailboxes[mid]["payload"]["signature"] = signature
            return mid

    def add_campaign(
        self,
        workspace_id: str,
        name: str,
        steps: list[list[tuple[str, str]]],
        *,
        status: str = "ACTIVE",
        wait_ticks: int = 1,
        mailbox_emails: list[str] | None = None,
    ) -> str:
        """Create a campaign; ``steps`` = per step a list of (subject, body) variations."""
        with self.lock:
            cid = self.new_id("camp")
            sequences = [
                {
                    "step": n,
                    "wait_time": 0 if n == 1 else wait_ticks,
                    "variations": [
                        {"variation": chr(ord("A") + i), "subject": subj, "body": body}
                        for i, (subj, body) in enumerate(variations)
                    ],
                }
                for n, variations in enumerate(steps, start=1)
            ]
            if mailbox_emails is None:
                mailbox_emails = [m["email"] for m in self.mailboxes.values() if m["workspace_id"] == workspace_id]
            self.campaigns[cid] = {
                "id": cid,
                "workspace_id": workspace_id,
                "camp_name": name,
                "status": status,
                "campaign_type": "parent",
                "parent_camp_id": None,
                "sequences": sequences,
                "schedule": {"timezone": "UTC"},
                "email_accounts": mailbox_emails,
                "lead_count": 0,
                "sent_count": 0,
                "replied_count": 0,
                "positive_reply_count": 0,
                "created_at": self.now_iso(),
                "modified_at": self.now_iso(),
            }
            return cid

    def set_campaign_status(self, campaign_id: str, status: str) -> None:
        with self.lock:
            camp = self.campaigns.get(campaign_id)
            if camp is None:
                raise SimError(404, "campaign not found")
            camp["status"] = status
            camp["modified_at"] = self.now_iso()

    def update_campaign_sequences(self, campaign_id: str, sequences: list[dict[str, Any]]) -> None:
        """Replace a campaign's whole ``sequences`` (validated and normalised like ``add_campaign``)."""
        with self.lock:
            camp = self.campaigns.get(campaign_id)
            if camp is None:
                raise SimError(404, "campaign not found")
            camp["sequences"] = normalise_sequences(sequences)
            camp["modified_at"] = self.now_iso()

    def api_update_campaign(self, body: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /campaign/update/campaign``: ``sequences`` replaces the whole array; also name and status."""
        with self.lock:
            wid = body.get("workspace_id")
            self.workspace(wid)
            cid = body.get("campaign_id")
            if not cid:
                raise SimError(400, "campaign_id is required")
            camp = self.campaigns.get(str(cid))
            if camp is None or camp["workspace_id"] != wid:
                raise SimError(404, "campaign not found")
            changes: dict[str, Any] = {}
            if "sequences" in body:
                changes["sequences"] = normalise_sequences(body["sequences"])
            if "camp_name" in body:
                name = body["camp_name"]
                if not isinstance(name, str) or not name.strip():
                    raise SimError(400, "camp_name must be a non-empty string")
                changes["camp_name"] = name
            if "status" in body:
                changes["status"] = _campaign_status(body["status"])
            camp.update(changes)  # all validated first: a bad field changes nothing
            camp["modified_at"] = self.now_iso()
            return {"status": "success"}

    def create_campaign(self, body: dict[str, Any]) -> str:
        """Control API: a campaign from ``{workspace_id?, name, status?, sequences, mailbox_emails?,
        campaign_type? (parent | subseq), parent_camp_id?}``."""
        with self.lock:
            wid = body.get("workspace_id") or next(iter(self.workspaces), None)
            if wid is None:
                raise SimError(400, "no workspace: seed or add one first")
            self.workspace(str(wid))
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise SimError(400, "name must be a non-empty string")
            sequences = normalise_sequences(body.get("sequences"))
            mailboxes = body.get("mailbox_emails")
            if mailboxes is not None and (
                not isinstance(mailboxes, list) or not all(isinstance(m, str) for m in mailboxes)
            ):
                raise SimError(400, "mailbox_emails must be an array of strings")
            status = _campaign_status(body.get("status", "ACTIVE"))
            kind = body.get("campaign_type", "parent")
            if kind not in ("parent", "subseq"):
                raise SimError(400, "campaign_type must be parent or subseq")
            parent = body.get("parent_camp_id")
            if kind == "subseq" and parent not in self.campaigns:
                raise SimError(400, "a subsequence needs the parent_camp_id of a campaign")
            cid = self.add_campaign(str(wid), name, [], status=status, mailbox_emails=mailboxes)
            self.campaigns[cid].update(sequences=sequences, campaign_type=kind,
                                       parent_camp_id=parent if kind == "subseq" else None)
            return cid

    def config(self) -> dict[str, Any]:
        with self.lock:
            return {"custom_storage": self.custom_storage, "judge_all_variants": self.judge_all_variants}

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Control API: set ``custom_storage`` and/or ``judge_all_variants``; returns the config."""
        unknown = set(body) - {"custom_storage", "judge_all_variants"}
        if unknown:
            raise SimError(400, f"unknown config fields: {sorted(unknown)}")
        rule = body.get("custom_storage", self.custom_storage)
        if rule not in CUSTOM_STORAGE_RULES:
            raise SimError(400, f"custom_storage must be one of {list(CUSTOM_STORAGE_RULES)}")
        judge = body.get("judge_all_variants", self.judge_all_variants)
        if not isinstance(judge, bool):
            raise SimError(400, "judge_all_variants must be a boolean")
        with self.lock:
            self.custom_storage, self.judge_all_variants = rule, judge
        return self.config()

    def seed(self, name: str = "demo") -> dict[str, Any]:
        """Populate a demo workspace: two mailboxes, an ACTIVE 3-step campaign, a PAUSED one and
        a COMPLETED one. Templates use the audit/copy keys of the services. ``second-client`` adds a second
        agency client's workspace (one mailbox, one ACTIVE campaign), once."""
        if name == "second-client":
            return self._seed_second_client()
        if name != "demo":
            raise SimError(400, f"unknown seed {name!r}")
        with self.lock:
            wid = self.add_workspace("Demo agency", "65f3c92d3dbe5dbb35374a9a")
            self.add_mailbox(wid, "alex@sender-one.test", "Alex", "Moreau")
            self.add_mailbox(wid, "sam@sender-two.test", "Sam", "Keller")
            greet = "{{random|Hi|Hello}} {{fallback|{{first_name}}|there}},"
            steps: list[list[tuple[str, str]]] = []
            for n in (1, 2, 3):
                body = (
                    f"<p>{greet}</p><p>{{{{email_body_{n}}}}}</p>"
                    f"<p>{{{{email_cta_{n}}}}}</p><p>{{{{sender_first_name}}}}</p>"
                )
                subject = f"{{{{email_subject_{n}}}}}" if n == 1 else ""
                steps.append([(subject, body)])
            main = self.add_campaign(wid, "Website audit outreach", steps, status="ACTIVE")
            paused = self.add_campaign(
                wid,
                "Paused test campaign",
                [[("Quick question, {{first_name}}", "<p>{{email_body}}</p>")]],
                status="PAUSED",
            )
            done = self.add_campaign(
                wid,
                "Finished campaign",
                [[("Hello {{company_name}}", "<p>{{email_body}}</p>")]],
                status="COMPLETED",
            )
            operator = self.add_campaign(
                wid, "Operator templates (job title, fallback, Liquid, custom_)", OPERATOR_STEPS, status="ACTIVE"
            )
            campaigns = {"active": main, "paused": paused, "completed": done, "operator": operator}
            return {"workspace_id": wid, "campaigns": campaigns}

    def _seed_second_client(self) -> dict[str, Any]:
        with self.lock:
            wid = SECOND_CLIENT_WORKSPACE
            if wid in self.workspaces:  # seeded before (a persisted state): nothing twice
                found = [c["id"] for c in self.campaigns.values() if c["workspace_id"] == wid]
                return {"workspace_id": wid, "campaigns": {"active": found[0] if found else ""}}
            self.add_workspace("Second client", wid)
            self.add_mailbox(wid, "jo@second-client-sender.test", "Jo", "Brandt")
            steps = [[(f"{{{{email_subject_{n}}}}}" if n == 1 else "",
                       f"<p>Hi {{{{fallback|{{{{first_name}}}}|there}}}},</p><p>{{{{email_body_{n}}}}}</p>"
                       f"<p>{{{{email_cta_{n}}}}}</p>")] for n in (1, 2)]
            active = self.add_campaign(wid, "Second client: website audit", steps, status="ACTIVE")
            return {"workspace_id": wid, "campaigns": {"active": active}}

    # --- API: campaigns, accounts ------------------------------------------------------------
    def api_authenticate(self) -> dict[str, Any]:
        with self.lock:
            return {"status": "success", "workspaces": [dict(w) for w in self.workspaces.values()]}

    def _public_campaign(self, camp: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in camp.items() if k != "workspace_id"}
        out["lead_count"] = sum(1 for lead in self.leads.values() if lead["campaign_id"] == camp["id"])
        return json.loads(json.dumps(out))  # type: ignore[no-any-return]

    def api_campaigns(
        self,
        workspace_id: str | None,
        skip: int,
        limit: int,
        campaign_type: str = "all",
        status: str | None = None,
        campaign_id: str | None = None,
    ) -> list[dict[str, Any]] | dict[str, Any]:
        with self.lock:
            self.workspace(workspace_id)
            if limit > 100:
                raise SimError(400, "limit must be <= 100")
            if status == "INACTIVE":
                raise SimError(400, "invalid status filter")
            rows = [
                c
                for c in self.campaigns.values()
                if c["workspace_id"] == workspace_id
                and (campaign_id is None or c["id"] == campaign_id)
                and (status is None or c["status"] == status)
                and (campaign_type in ("all", "") or c["campaign_type"] == campaign_type)
            ]
            page = [self._public_campaign(c) for c in rows[skip : skip + limit]]
            # Real quirk: an empty list comes back as {}.
            return page if page else {}

    def api_accounts(self, workspace_id: str | None, skip: int, limit: int, email: str | None = None) -> dict[str, Any]:
        with self.lock:
            self.workspace(workspace_id)
            rows = [
                {k: v for k, v in m.items() if k != "workspace_id"}
                for m in self.mailboxes.values()
                if m["workspace_id"] == workspace_id and (email is None or m["email"] == email)
            ]
            return {"accounts": rows[skip : skip + limit]}

    # --- API: leads --------------------------------------------------------------------------
    @staticmethod
    def _lead_key(campaign_id: str, email: str) -> str:
        return f"{campaign_id}:{email.strip().lower()}"

    def _leads_of(self, workspace_id: str, email: str) -> list[dict[str, Any]]:
        wanted = email.strip().lower()
        return [
            lead
            for lead in self.leads.values()
            if lead["workspace_id"] == workspace_id and lead["email"].lower() == wanted
        ]

    def api_lead_add(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            wid = body.get("workspace_id")
            self.workspace(wid)
            cid = body.get("campaign_id")
            if not cid:
                raise SimError(400, "campaign_id is required")
            camp = self.campaigns.get(cid)
            if camp is None or camp["workspace_id"] != wid:
                raise SimError(404, "campaign not found")
            leads = body.get("leads")
            if not isinstance(leads, list):
                raise SimError(400, "leads must be an array")
            flags = {
                k: bool(body.get(k))
                for k in (
                    "skip_if_in_workspace",
                    "skip_lead_in_active_pause_camp",
                    "skip_lead_for_active_only_camp",
                    "is_overwrite",
                    "resume_camp_if_completed",
                )
            }
            counts = {
                "total_sent": len(leads),
                "leads_uploaded": 0,
                "already_in_campaign": 0,
                "skipped": 0,
                "duplicate_email_count": 0,
                "invalid_email_count": 0,
            }
            seen: set[str] = set()
            for raw in leads:
                email = str((raw or {}).get("email", "")).strip()
                if "@" not in email or "." not in email.split("@")[-1]:
                    counts["invalid_email_count"] += 1
                    continue
                if email.lower() in seen:
                    counts["duplicate_email_count"] += 1
                    continue
                seen.add(email.lower())
                key = self._lead_key(cid, email)
                existing = self.leads.get(key)
                if existing is not None:
                    counts["already_in_campaign"] += 1
                    if flags["is_overwrite"]:
                        self._apply_lead_fields(existing, raw)
                    continue
                others = [
                    self.campaigns[x["campaign_id"]]["status"]
                    for x in self._leads_of(wid, email)
                    if x["campaign_id"] != cid
                ]
                if (
                    (flags["skip_if_in_workspace"] and others)
                    or (flags["skip_lead_in_active_pause_camp"] and {"ACTIVE", "PAUSED"} & set(others))
                    or (flags["skip_lead_for_active_only_camp"] and "ACTIVE" in others)
                ):
                    counts["skipped"] += 1
                    continue
                lead: dict[str, Any] = {
                    "_id": self.new_id("lead"),
                    "workspace_id": wid,
                    "campaign_id": cid,
                    "email": email,
                    "custom_variables": {},
                    "label": None,
                    "status": "NOT_CONTACTED",
                    "current_step": 0,
                    "next_due_tick": 0,
                    "email_opened": False,
                    "email_replied": False,
                    "thread_id": None,
                    "bounce_msg": None,
                    "created_at": self.now_iso(),
                }
                self._apply_lead_fields(lead, raw)
                self.leads[key] = lead
                counts["leads_uploaded"] += 1
            if flags["resume_camp_if_completed"] and camp["status"] == "COMPLETED":
                camp["status"] = "ACTIVE"
            return {"status": "success", **counts}

    def _apply_lead_fields(self, lead: dict[str, Any], raw: dict[str, Any]) -> None:
        """Store the documented fields and the custom variables (under the storage rule); ignore the rest."""
        for name in LEAD_FIELDS:
            if raw.get(name) is not None:
                lead[name] = raw[name]
        custom = raw.get("custom_variables")
        if isinstance(custom, dict):
            store_custom(lead, custom, self.custom_storage)

    def api_lead_data_update(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            wid = body.get("workspace_id")
            self.workspace(wid)
            email = body.get("email")
            variables = body.get("variables")
            if not email or not isinstance(variables, dict):
                raise SimError(400, "email and variables are required")
            rows = self._leads_of(wid, str(email))  # type: ignore[arg-type]
            if body.get("campaign_id"):
                rows = [r for r in rows if r["campaign_id"] == body["campaign_id"]]
            if not rows:
                raise SimError(404, "lead not found")
            for lead in rows:
                for key, value in variables.items():
                    if key == "label":
                        lead["label"] = value
                    elif key in LEAD_FIELDS:
                        lead[key] = value
                    else:
                        store_custom(lead, {key: value}, self.custom_storage)
            self.variable_updates.append({"email": str(email), "campaign_id": body.get("campaign_id"),
                                          "at": time.time()})
            return {"status": "success"}

    def api_lead_status(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            wid = body.get("workspace_id")
            self.workspace(wid)
            if body.get("new_status") != "COMPLETED":
                raise SimError(400, "new_status must be COMPLETED")
            cid, email = body.get("campaign_id"), body.get("email")
            if not cid or not email:
                raise SimError(400, "campaign_id and email are required")
            lead = self.leads.get(self._lead_key(str(cid), str(email)))
            if lead is None or lead["workspace_id"] != wid:
                raise SimError(404, "lead not found")
            lead["status"] = "COMPLETED"
            return {"status": "success"}

    def api_lead_delete(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            wid = body.get("workspace_id")
            self.workspace(wid)
            emails = body.get("delete_list")
            if not isinstance(emails, list) or not emails:
                raise SimError(400, "delete_list is required")
            cid = body.get("campaign_id")
            wanted = {str(e).strip().lower() for e in emails}
            domains = {e.split("@")[-1] for e in wanted} if body.get("delete_all_from_company") else set()
            for key, lead in list(self.leads.items()):
                if lead["workspace_id"] != wid or (cid and lead["campaign_id"] != cid):
                    continue
                addr = lead["email"].lower()
                if addr in wanted or addr.split("@")[-1] in domains:
                    del self.leads[key]
            return {"status": "success"}

    def _lead_row(self, lead: dict[str, Any]) -> dict[str, Any]:
        camp = self.campaigns[lead["campaign_id"]]
        data = {
            "_id": lead["_id"],
            "email": lead["email"],
            **{k: lead.get(k) for k in LEAD_FIELDS if lead.get(k) is not None},
            "label": lead["label"],
            "status": lead["status"],
            **lead["custom_variables"],
        }
        return {
            "id": lead["_id"],
            "contact": lead["email"],
            "campaign": lead["campaign_id"],
            "campaign_name": camp["camp_name"],
            "status": lead["status"],
            "email_opened": lead["email_opened"],
            "email_replied": lead["email_replied"],
            "lead_data": data,
        }

    def api_lead_get(
        self, workspace_id: str | None, email: str | None, campaign_id: str | None, skip: int, limit: int
    ) -> list[dict[str, Any]]:
        with self.lock:
            self.workspace(workspace_id)
            if not email:
                raise SimError(400, "email is required")
            rows = self._leads_of(str(workspace_id), email)
            if campaign_id:
                rows = [r for r in rows if r["campaign_id"] == campaign_id]
            return [self._lead_row(r) for r in rows[skip : skip + limit]]

    def api_workspace_leads(self, workspace_id: str | None, q: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            self.workspace(workspace_id)
            page = max(1, int(q.get("page", "1")))
            limit = max(1, min(100, int(q.get("limit", "100"))))
            rows = [
                lead
                for lead in self.leads.values()
                if lead["workspace_id"] == workspace_id
                and all(
                    not q.get(f) or str(lead.get(f) or "").lower() == q[f].lower()
                    for f in ("campaign_id", "status", "label", "email", "first_name", "last_name")
                )
            ]
            out = []
            for lead in rows[(page - 1) * limit : page * limit]:
                camp = self.campaigns[lead["campaign_id"]]
                out.append(
                    {
                        "_id": lead["_id"],
                        "email": lead["email"],
                        "first_name": lead.get("first_name"),
                        "last_name": lead.get("last_name"),
                        "status": lead["status"],
                        "label": lead["label"],
                        "current_step": lead["current_step"],
                        "sent_step": lead["current_step"],
                        "total_steps": len(camp["sequences"]),
                        "camp_name": camp["camp_name"],
                        "campaign_id": lead["campaign_id"],
                        "bounce_msg": lead["bounce_msg"],
                        # The lead's company, when it has one (the first sync of the platform reads them).
                        **{k: lead[k] for k in ("company_name", "company_website") if lead.get(k)},
                    }
                )
            return out

    # --- API: unibox -------------------------------------------------------------------------
    def api_unibox_emails(
        self,
        workspace_id: str | None,
        lead: str | None,
        email_type: str,
        campaign_id: str | None,
        page_trail: str | None,
    ) -> dict[str, Any]:
        with self.lock:
            self.workspace(workspace_id)
            rows = [
                e
                for e in reversed(self.emails)
                if e["workspace_id"] == workspace_id
                and (not lead or e["lead"].lower() == lead.lower())
                and (not campaign_id or e["campaign_id"] == campaign_id)
                and (
                    email_type in ("all", "")
                    or (email_type == "received" and e["direction"] == "IN")
                    or (email_type == "sent" and e["direction"] == "OUT")
                )
            ]
            offset = 0
            if page_trail:
                try:
                    offset = int(base64.urlsafe_b64decode(page_trail.encode()).decode())
                except ValueError:
                    raise SimError(400, "invalid page_trail") from None
            size = self.unibox_page_size
            page = rows[offset : offset + size]
            more = offset + size < len(rows)
            trail = base64.urlsafe_b64encode(str(offset + size).encode()).decode() if more else ""
            public = [{k: v for k, v in e.items() if k != "workspace_id"} for e in page]
            return {"page_trail": trail, "data": json.loads(json.dumps(public))}

    def _email_by_id(self, email_id: str) -> dict[str, Any] | None:
        return next((e for e in self.emails if e["id"] == email_id), None)

    def _append_email(
        self,
        lead: dict[str, Any],
        direction: str,
        subject: str,
        html: str,
        eaccount: str,
        text: str | None = None,
    ) -> dict[str, Any]:
        if not lead.get("thread_id"):
            lead["thread_id"] = self.new_id("thread")
        email_id = self.new_id("email")
        plain = text if text is not None else _strip_html(html)
        message = {
            "id": email_id,
            "workspace_id": lead["workspace_id"],
            "thread_id": lead["thread_id"],
            "message_id": f"<{email_id}@sim.plusvibe.test>",
            "direction": direction,
            "subject": subject,
            "body": {"html": html, "text": plain},
            "content_preview": plain[:120],
            "from_address_email": eaccount if direction == "OUT" else lead["email"],
            "to_address_email_list": [lead["email"]] if direction == "OUT" else [eaccount],
            "cc_address_email_list": [],
            "eaccount": eaccount,
            "lead": lead["email"],
            "lead_id": lead["_id"],
            "campaign_id": lead["campaign_id"],
            "label": lead["label"],
            "is_unread": 1 if direction == "IN" else 0,
            "timestamp_created": self.now_iso(),
        }
        self.emails.append(message)
        return message

    def api_reply(self, workspace_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.workspace(workspace_id)
            for name in ("reply_to_id", "from", "to"):
                if not body.get(name):
                    raise SimError(400, f"{name} is required")
            original = self._email_by_id(str(body["reply_to_id"]))
            if original is None or original["workspace_id"] != workspace_id:
                raise SimError(404, "email not found")
            lead = next((x for x in self.leads.values() if x["_id"] == original["lead_id"]), None)
            if lead is None:
                raise SimError(404, "lead not found")
            message = self._append_email(
                lead, "OUT", str(body.get("subject") or ""), str(body.get("body") or ""), str(body["from"])
            )
            message["to_address_email_list"] = [str(body["to"])]
            return {"status": "success", "id": message["id"]}

    def api_mark_read(self, workspace_id: str | None, thread_id: str) -> dict[str, Any]:
        with self.lock:
            self.workspace(workspace_id)
            found = [e for e in self.emails if e["thread_id"] == thread_id]
            if not found:
                raise SimError(404, "thread not found")
            for e in found:
                e["is_unread"] = 0
            return {"status": "success"}

    # --- API: hooks --------------------------------------------------------------------------
    def api_hook_add(self, body: dict[str, Any]) -> dict[str, Any]:
        from plusvibe.simulator.webhooks import is_loopback_url

        with self.lock:
            wid = body.get("workspace_id")
            self.workspace(wid)
            url = str(body.get("url") or "")
            if not url or not body.get("event_types"):
                raise SimError(400, "url and event_types are required")
            if not is_loopback_url(url):
                raise SimError(400, "the simulator only delivers webhooks to loopback URLs")
            camp_ids = list(body.get("camp_ids") or ["ALL"])
            alerts = body.get("alerts") or {}
            if "SYSTEM_ALERT" in body["event_types"] and camp_ids != ["ALL"]:
                raise SimError(400, "SYSTEM_ALERT needs camp_ids [\"ALL\"]")
            if alerts and (not isinstance(alerts, dict) or "SYSTEM_ALERT" not in body["event_types"]):
                raise SimError(400, "alerts must be an object, given only with SYSTEM_ALERT")
            hid = self.new_id("hook")
            self.hooks[hid] = {
                "_id": hid,
                "workspace_id": wid,
                "name": body.get("name") or "hook",
                "url": url,
                "camp_ids": camp_ids,
                "evt_types": list(body["event_types"]),
                "alerts": dict(alerts),
                "status": "ACTIVE",
                "secret": body.get("secret", self.webhook_secret),
                "ignore_ooo": int(body.get("ignore_ooo") or 0),
                "ignore_automatic": int(body.get("ignore_automatic") or 0),
                "last_run": None,
                "last_resp": None,
            }
            return {"status": "success", "_id": hid}

    def api_hook_list(self, workspace_id: str | None) -> dict[str, Any]:
        with self.lock:
            self.workspace(workspace_id)
            hooks = [
                {k: v for k, v in h.items() if k != "workspace_id"}
                for h in self.hooks.values()
                if h["workspace_id"] == workspace_id
            ]
            return {"hooks": hooks}

    def api_hook_del(self, workspace_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.workspace(workspace_id)
            ids = body.get("ids")
            if not isinstance(ids, list):
                raise SimError(400, "ids is required")
            for hid in ids:
                hook = self.hooks.get(str(hid))
                if hook is not None and hook["workspace_id"] == workspace_id:
                    del self.hooks[str(hid)]
            return {"status": "success"}

    # --- webhooks out ------------------------------------------------------------------------
    def _payload(self, event: str, lead: dict[str, Any], **extra: Any) -> dict[str, Any]:
        camp = self.campaigns[lead["campaign_id"]]
        ws = self.workspaces[lead["workspace_id"]]
        thread = [e for e in self.emails if e["thread_id"] == lead.get("thread_id")]
        last = thread[-1] if thread else None
        last_in = next((e for e in reversed(thread) if e["direction"] == "IN"), None)
        label = lead["label"]
        sentiment = "POSITIVE" if label in POSITIVE_LABELS else "NEGATIVE" if label in NEGATIVE_LABELS else "NEUTRAL"
        payload: dict[str, Any] = {
            "webhook_event": event,
            "_id": lead["_id"],
            "lead_id": lead["_id"],
            "email": lead["email"],
            **{k: lead.get(k) for k in LEAD_FIELDS if lead.get(k) is not None},
            **lead["custom_variables"],
            "workspace_id": ws["_id"],
            "workspace_name": ws["name"],
            "camp_id": camp["id"],
            "campaign_id": camp["id"],
            "campaign_name": camp["camp_name"],
            "label": label,
            "sentiment": sentiment,
            "status": lead["status"],
            "last_email_id": last["id"] if last else None,
            "last_thread_id": lead.get("thread_id"),
            "email_account_name": last["eaccount"] if last else None,
            "last_lead_reply": last_in["body"]["html"] if last_in else None,
            "last_lead_reply_subject": last_in["subject"] if last_in else None,
        }
        payload.update(extra)
        return payload

    def emit(self, event: str, lead: dict[str, Any], **extra: Any) -> int:
        """Queue the event for every matching hook; returns how many deliveries were queued."""
        payload = self._payload(event, lead, **extra)
        queued = 0
        for hook in self.hooks.values():
            if hook["workspace_id"] != lead["workspace_id"]:
                continue
            if event not in hook["evt_types"]:
                continue
            if "ALL" not in hook["camp_ids"] and lead["campaign_id"] not in hook["camp_ids"]:
                continue
            self.deliveries.append(Delivery(hook["_id"], hook["url"], hook["secret"], dict(payload)))
            queued += 1
        return queued

    def emit_alert(self, alert: str, *, workspace_id: str | None = None, campaign_id: str | None = None,
                   message: str = "") -> int:
        """A SYSTEM_ALERT (e.g. CAMPAIGN_AUTO_PAUSED, which pauses the campaign) to every hook of the workspace
        that takes SYSTEM_ALERT and, when it names alerts, this one. Returns how many deliveries were queued."""
        with self.lock:
            camp = self.campaigns.get(campaign_id) if campaign_id else None
            if campaign_id and camp is None:
                raise SimError(404, "campaign not found")
            wid = camp["workspace_id"] if camp else workspace_id
            ws = self.workspace(wid)
            if alert == "CAMPAIGN_AUTO_PAUSED":
                if camp is None:
                    raise SimError(400, "CAMPAIGN_AUTO_PAUSED needs a campaign_id")
                camp["status"] = "PAUSED"
                camp["modified_at"] = self.now_iso()
            payload: dict[str, Any] = {
                "webhook_event": "SYSTEM_ALERT", "alert": alert, "workspace_id": ws["_id"],
                "workspace_name": ws["name"], "message": message or alert.replace("_", " ").capitalize(),
                "timestamp": self.now_iso(),
            }
            if camp is not None:
                payload.update(campaign_id=camp["id"], camp_id=camp["id"], campaign_name=camp["camp_name"],
                               is_camp_paused=camp["status"] == "PAUSED")
            queued = 0
            for hook in self.hooks.values():
                if hook["workspace_id"] != ws["_id"] or "SYSTEM_ALERT" not in hook["evt_types"]:
                    continue
                if hook.get("alerts") and alert not in hook["alerts"]:
                    continue
                self.deliveries.append(Delivery(hook["_id"], hook["url"], hook["secret"], dict(payload)))
                queued += 1
            self.save()
            return queued

    def due_deliveries(self, now: float | None = None) -> list[Delivery]:
        t = time.monotonic() if now is None else now
        with self.lock:
            return [
                d
                for d in self.deliveries
                if not d.delivered and d.attempts < self.webhook_max_attempts and d.next_at <= t
            ]

    # --- send loop ---------------------------------------------------------------------------
    def _variables(self, lead: dict[str, Any], mailbox: dict[str, Any] | None) -> dict[str, Any]:
        return rendering_context(lead, mailbox)

    def tick(self) -> list[dict[str, Any]]:
        """Send the due step of every active lead; returns the messages sent this tick."""
        sent_now = self.tick_leads(self.start_tick())
        self.save()
        return sent_now

    def start_tick(self) -> list[str]:
        """Begin a tick: the leads it looks at, for `tick_leads` (which the app calls a few at a time, so that a tick
        of 10,000 leads never holds its event loop for seconds: a request arriving meanwhile is stamped on time)."""
        with self.lock:
            self.tick_count += 1
            return list(self.leads)

    def tick_leads(self, keys: Iterable[str]) -> list[dict[str, Any]]:
        """Send the due step of each of these leads (of the tick begun last)."""
        sent_now: list[dict[str, Any]] = []
        with self.lock:
            for key in keys:
                lead = self.leads.get(key)
                if lead is None:
                    continue
                camp = self.campaigns.get(lead["campaign_id"])
                if camp is None or camp["status"] != "ACTIVE":
                    continue
                if lead["status"] in STOPPED_STATUSES:
                    continue
                steps = camp["sequences"]
                if lead["current_step"] >= len(steps):
                    lead["status"] = "COMPLETED"
                    continue
                if lead["next_due_tick"] > self.tick_count:
                    continue
                sent_now.append(self._send_step(lead, camp))
        return sent_now

    def _render_variation(
        self, variation: dict[str, Any], variables: dict[str, Any], salt: str, judge: bool
    ) -> tuple[Rendered, Rendered]:
        subject = self.renderer.render(variation["subject"], variables, salt + "|s", judge=judge)
        body = self.renderer.render(variation["body"], variables, salt + "|b", judge=judge)
        return subject, body

    @staticmethod
    def _problems(step: int, variation: str, subject: Rendered, body: Rendered) -> list[dict[str, Any]]:
        found = [("subject", k) for k in subject.empty_keys] + [("body", k) for k in body.empty_keys]
        unique = list(dict.fromkeys(found))  # a key empty in two random options is one problem
        return [{"step": step, "variation": variation, "part": part, "key": key} for part, key in unique]

    def _send_step(self, lead: dict[str, Any], camp: dict[str, Any]) -> dict[str, Any]:
        steps = camp["sequences"]
        step = steps[lead["current_step"]]
        variations = step["variations"] or [{"variation": "A", "subject": "", "body": ""}]
        pick = int(hashlib.sha256(f"{self.render_seed}|{lead['email']}|{step['step']}".encode()).hexdigest(), 16)
        variation = variations[pick % len(variations)]
        accounts = camp["email_accounts"] or [
            m["email"] for m in self.mailboxes.values() if m["workspace_id"] == lead["workspace_id"]
        ]
        eaccount = accounts[pick % len(accounts)] if accounts else "sender@sim.plusvibe.test"
        mailbox = next((m for m in self.mailboxes.values() if m["email"] == eaccount), None)
        variables = self._variables(lead, mailbox)
        salt = f"{lead['email']}|{camp['id']}|{step['step']}"
        judge = self.judge_all_variants
        # The chosen variation renders with the send's own salt, so judging never changes what is sent.
        subject, body = self._render_variation(variation, variables, salt, judge)
        problems = self._problems(step["step"], variation["variation"], subject, body)
        if judge:
            # Any variation may be chosen, and any mailbox of the campaign may send it (PlusVibe rotates them).
            senders = [next((m for m in self.mailboxes.values() if m["email"] == a), None) for a in accounts] or [None]
            for sender in senders:
                sender_vars = variables if sender is mailbox else self._variables(lead, sender)
                for other in variations:
                    if other is variation and sender is mailbox:
                        continue
                    o_subject, o_body = self._render_variation(other, sender_vars, f"{salt}|{other['variation']}",
                                                               True)
                    problems += self._problems(step["step"], other["variation"], o_subject, o_body)
            problems = [dict(t) for t in dict.fromkeys(tuple(sorted(p.items())) for p in problems)]
        subject_text = subject.text
        if not subject_text.strip() and not subject.malformed:
            # Follow-up steps without a subject go out in the same thread as "Re: <first subject>".
            first = next(
                (e for e in self.emails if e["thread_id"] == lead.get("thread_id") and e["direction"] == "OUT"),
                None,
            )
            subject_text = f"Re: {first['subject']}" if first else subject_text
        message = self._append_email(lead, "OUT", subject_text, body.text, eaccount)
        record = {
            "tick": self.tick_count,
            "email_id": message["id"],
            "campaign_id": camp["id"],
            "email": lead["email"],
            "step": step["step"],
            "variation": variation["variation"],
            "subject": subject_text,
            "body": body.text,
            "empty_keys": subject.empty_keys + body.empty_keys,
            "sent_at": message["timestamp_created"],
            "problems": problems,
        }
        self.sent.append(record)
        if problems:
            self.empty_placeholders.append(record)
        lead["current_step"] += 1
        lead["status"] = "CONTACTED"
        nxt = lead["current_step"]
        wait = steps[nxt]["wait_time"] if nxt < len(steps) else 1
        lead["next_due_tick"] = self.tick_count + max(1, int(wait))
        camp["sent_count"] += 1
        self.emit(
            "EMAIL_SENT",
            lead,
            subject=subject_text,
            body=body.text,
            text_body=_strip_html(body.text),
            step=step["step"],
            message_id=message["message_id"],
            thread_id=message["thread_id"],
            from_email=eaccount,
            to_email=lead["email"],
        )
        return record

    # --- control: inbound events -------------------------------------------------------------
    def _lead_for(self, email: str, campaign_id: str | None) -> dict[str, Any]:
        rows = [
            lead
            for lead in self.leads.values()
            if lead["email"].lower() == email.lower() and (campaign_id is None or lead["campaign_id"] == campaign_id)
        ]
        if not rows:
            raise SimError(404, "lead not found")
        return rows[0]

    def inject_reply(
        self,
        email: str,
        text: str,
        *,
        campaign_id: str | None = None,
        subject: str | None = None,
        html: str | None = None,
        label: str | None = None,
    ) -> dict[str, Any]:
        """An inbound reply from the lead: stops the sequence and fires the reply events."""
        with self.lock:
            lead = self._lead_for(email, campaign_id)
            thread = [e for e in self.emails if e["thread_id"] == lead.get("thread_id")]
            last_out = next((e for e in reversed(thread) if e["direction"] == "OUT"), None)
            eaccount = last_out["eaccount"] if last_out else "sender@sim.plusvibe.test"
            if subject is None:
                base = last_out["subject"] if last_out else ""
                subject = base if base.lower().startswith("re:") else f"Re: {base}"
            first_reply = not lead["email_replied"]
            message = self._append_email(
                lead, "IN", subject, html if html is not None else f"<p>{text}</p>", eaccount, text
            )
            lead["email_replied"] = True
            lead["status"] = "REPLIED"
            self.campaigns[lead["campaign_id"]]["replied_count"] += 1
            if label:
                lead["label"] = label
                message["label"] = label
            extra = {
                "subject": subject,
                "text_body": text,
                "body": message["body"]["html"],
                "from_email": lead["email"],
                "actual_replied_from": lead["email"],
                "to_email": eaccount,
                "message_id": message["message_id"],
                "in_reply_to": last_out["message_id"] if last_out else None,
                "thread_id": message["thread_id"],
                "replied_date": message["timestamp_created"],
            }
            self.emit("ALL_EMAIL_REPLIES", lead, **extra)
            if first_reply:
                self.emit("FIRST_EMAIL_REPLIES", lead, **extra)
            if label in POSITIVE_LABELS:
                self.emit("ALL_POSITIVE_REPLIES", lead, **extra)
            if label:
                self.emit(f"LEAD_MARKED_AS_{label}", lead)
            self.save()
            return dict(message)

    def inject_bounce(
        self,
        email: str,
        *,
        campaign_id: str | None = None,
        is_camp_paused: bool = False,
        message: str = "550 no such user",
    ) -> None:
        with self.lock:
            lead = self._lead_for(email, campaign_id)
            lead["status"] = "BOUNCED"
            lead["bounce_msg"] = message
            if is_camp_paused:
                self.campaigns[lead["campaign_id"]]["status"] = "PAUSED"
            self.emit("BOUNCED_EMAIL", lead, is_camp_paused=is_camp_paused, bounce_msg=message)
            self.save()

    def inject_label(self, email: str, label: str, *, campaign_id: str | None = None) -> None:
        with self.lock:
            lead = self._lead_for(email, campaign_id)
            lead["label"] = label
            self.emit(f"LEAD_MARKED_AS_{label}", lead)
            self.save()

    def inject_open(self, email: str, *, campaign_id: str | None = None) -> None:
        with self.lock:
            self._lead_for(email, campaign_id)["email_opened"] = True
            self.save()

    # --- persistence, reset ------------------------------------------------------------------
    _PERSISTED = ("workspaces", "campaigns", "mailboxes", "leads", "emails", "hooks", "empty_placeholders", "sent")

    def save(self) -> None:
        if not self.persist_path:
            return
        with self.lock:
            data = {name: getattr(self, name) for name in self._PERSISTED}
            data["tick_count"] = self.tick_count
            tmp = Path(self.persist_path + ".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.persist_path)

    def load(self, path: str) -> None:
        data = json.loads(Path(path).read_text())
        with self.lock:
            for name in self._PERSISTED:
                setattr(self, name, data.get(name, getattr(self, name)))
            self.tick_count = int(data.get("tick_count", 0))
            self._ids = itertools.count(len(self.leads) + len(self.emails) + len(self.campaigns) + 1000)

    def reset(self) -> None:
        """Forget everything except keys and settings."""
        with self.lock:
            for name in self._PERSISTED:
                getattr(self, name).clear()
            self.deliveries.clear()
            self.requests.clear()
            self.variable_updates.clear()
            self._windows.clear()
            self.faults.clear()
            self.tick_count = 0


_OPERATOR_ROLE = (
    "{% if job_title != blank %}As {{job_title}} at {{company_name}}, you are probably the one who hears about "
    "it when the website lets customers down.{% else %}I had a look at the {{company_name}} website this week."
    "{% endif %}"
)
# The demo's operator-written campaign: Liquid around a lead field, fallback, spintax, a custom_ token.
OPERATOR_STEPS: list[list[tuple[str, str]]] = [
    [
        (
            "{{fallback|{{first_name}}|there}}, {{company_name}}'s site scored {{custom_audit_grade}}",
            "<p>{{random|Hi|Hello}} {{fallback|{{first_name}}|there}},</p>"
            f"<p>{_OPERATOR_ROLE}</p>"
            "<p>{{email_body_1}}</p>"
            "<p>The audit gave the site a {{custom_audit_grade}}. The first thing I would fix: {{top_issue}}.</p>"
            '<p>The full report is here: <a href="{{audit_url}}">{{audit_url}}</a></p>'
            "<p>{{random|Best|Cheers}},<br>{{sender_first_name}}</p>",
        ),
        (
            "A quick website audit for {{company_name}}",
            "<p>{{random|Hi|Hello}} {{fallback|{{first_name}}|there}},</p>"
            "<p>{{email_body_1}}</p>"
            "<p>{% if job_title != blank %}I thought it worth sending to you as {{job_title}}: {% endif %}"
            "the report grades the site {{custom_audit_grade}} and flags {{top_issue}} first.</p>"
            '<p><a href="{{audit_url}}">Read the audit</a></p>'
            "<p>{{sender_first_name}}</p>",
        ),
    ],
    [
        (
            "",
            "<p>{{fallback|{{first_name}}|Hi again}},</p>"
            "<p>{{email_body_2}}</p>"
            "<p>{{top_issue}} is usually a quick fix; the steps are in the report: {{audit_url}}</p>"
            "<p>{{sender_first_name}}</p>",
        )
    ],
]

CAMPAIGN_STATUSES = ("ACTIVE", "PAUSED", "INACTIVE", "DRAFT", "COMPLETED", "ARCHIVED")


def _campaign_status(value: Any) -> str:
    if value not in CAMPAIGN_STATUSES:
        raise SimError(400, f"status must be one of {list(CAMPAIGN_STATUSES)}")
    return str(value)


def _strip_html(html: str) -> str:
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def max_in_any_second(stamps: Iterable[float]) -> int:
    """Largest number of these instants (seconds) inside any one-second window (sliding)."""
    times = sorted(stamps)
    best = 0
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best
