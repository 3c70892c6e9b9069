"""Tolerant pydantic models of PlusVibe payloads.

The real API mixes ``id``/``_id``, bare arrays and wrapped objects, sends ``{}`` for an empty
list and adds fields freely; every model ignores unknown fields and reads both id spellings.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def _id_field() -> Any:
    return Field(default="", validation_alias=AliasChoices("id", "_id"))


def as_list(payload: Any, *keys: str) -> list[Any]:
    """Return the list inside ``payload``: a bare array, ``{key: [...]}``, ``{}``, or ``{"0": .., "1": ..}``."""
    if payload is None:
        return []
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in keys:
            value = payload.get(key)
            if isinstance(value, list):
                return value
        if not payload:
            return []
        if all(k.isdigit() for k in payload):
            return [payload[k] for k in sorted(payload, key=int)]
    return []


class Workspace(_Tolerant):
    id: str = _id_field()
    name: str = ""


class Variation(_Tolerant):
    variation: str = ""
    subject: str = ""
    body: str = ""


class SequenceStep(_Tolerant):
    step: int = 0
    wait_time: int = 0
    variations: list[Variation] = Field(default_factory=list)

    @field_validator("variations", mode="before")
    @classmethod
    def _list(cls, value: Any) -> list[Any]:
        return as_list(value)


class Campaign(_Tolerant):
    id: str = _id_field()
    camp_name: str = Field(default="", validation_alias=AliasChoices("camp_name", "name"))
    status: str = ""
    campaign_type: str = ""
    parent_camp_id: str | None = None
    sequences: list[SequenceStep] = Field(default_factory=list)
    email_accounts: list[Any] = Field(default_factory=list)
    lead_count: int = 0
    sent_count: int = 0
    replied_count: int = 0

    @field_validator("sequences", "email_accounts", mode="before")
    @classmethod
    def _list(cls, value: Any) -> list[Any]:
        return as_list(value)

    @property
    def step_count(self) -> int:
        return len(self.sequences)


class Mailbox(_Tolerant):
    id: str = _id_field()
    email: str = ""
    status: str = ""
    warmup_status: str = ""
    provider: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)


class LeadIn(_Tolerant):
    """One lead for ``/lead/add``. Unknown per-lead fields belong in ``custom_variables``."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    company_website: str | None = None
    phone_number: str | None = None
    linkedin_person_url: str | None = None
    linkedin_company_url: str | None = None
    address_line: str | None = None
    city: str | None = None
    country: str | None = None
    country_code: str | None = None
    notes: str | None = None
    custom_variables: dict[str, str] = Field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if not data.get("custom_variables"):
            data.pop("custom_variables", None)
        return data


class AddLeadsResult(_Tolerant):
    """Counts from ``/lead/add``, summed over batches by the client."""

    status: str = "success"
    total_sent: int = 0
    leads_uploaded: int = 0
    already_in_campaign: int = 0
    skipped: int = 0
    duplicate_email_count: int = 0
    invalid_email_count: int = 0
    batches: int = 0

    def merged(self, other: AddLeadsResult) -> AddLeadsResult:
        return AddLeadsResult(
            status=self.status if other.status == "success" else other.status,
            total_sent=self.total_sent + other.total_sent,
            leads_uploaded=self.leads_uploaded + other.leads_uploaded,
            already_in_campaign=self.already_in_campaign + other.already_in_campaign,
            skipped=self.skipped + other.skipped,
            duplicate_email_count=self.duplicate_email_count + other.duplicate_email_count,
            invalid_email_count=self.invalid_email_count + other.invalid_email_count,
            batches=self.batches + 1,
        )


class LeadData(_Tolerant):
    """``lead_data`` of a ``/lead/get`` row; custom variables arrive as extra keys."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = _id_field()
    email: str = ""
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    label: str | None = None
    status: str | None = None

    @property
    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class LeadRow(_Tolerant):
    """One (email, campaign) row from ``/lead/get``."""

    id: str = _id_field()
    contact: str = ""
    campaign: str = ""
    campaign_name: str = ""
    status: str = ""
    email_opened: bool = False
    email_replied: bool = False
    lead_data: LeadData = Field(default_factory=LeadData)

    def variable(self, key: str) -> Any:
        """A stored custom variable (read raw or ``custom_``-prefixed; enrichment objects give ``val``)."""
        extras = self.lead_data.extras
        nested = extras.get("custom_variables")
        value: Any = None
        if isinstance(nested, dict) and key in nested:
            value = nested[key]
        elif key in extras:
            value = extras[key]
        elif f"custom_{key}" in extras:
            value = extras[f"custom_{key}"]
        if isinstance(value, dict) and "val" in value:
            return value["val"]
        return value


class WorkspaceLead(_Tolerant):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = _id_field()
    email: str = ""
    first_name: str | None = None
    last_name: str | None = None
    status: str | None = None
    label: str | None = None
    current_step: int | None = None
    sent_step: int | None = None
    total_steps: int | None = None
    camp_name: str | None = None
    campaign_id: str | None = None


class EmailBody(_Tolerant):
    html: str = ""
    text: str = ""


class UniboxEmail(_Tolerant):
    id: str = _id_field()
    thread_id: str = ""
    message_id: str = ""
    direction: str = ""
    subject: str = ""
    body: EmailBody = Field(default_factory=EmailBody)
    content_preview: str = ""
    from_address_email: str = ""
    to_address_email_list: list[str] = Field(default_factory=list)
    eaccount: str = ""
    lead: str = ""
    lead_id: str = ""
    campaign_id: str = ""
    label: str | None = None
    is_unread: int = 0
    timestamp_created: str = ""

    @field_validator("body", mode="before")
    @classmethod
    def _body(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"html": value, "text": ""}
        return value or {}

    @field_validator("to_address_email_list", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value or []


class UniboxPage(_Tolerant):
    page_trail: str | None = None
    data: list[UniboxEmail] = Field(default_factory=list)

    @field_validator("data", mode="before")
    @classmethod
    def _list(cls, value: Any) -> list[Any]:
        return as_list(value)


class ReplyResult(_Tolerant):
    status: str = ""
    id: str = _id_field()


class Webhook(_Tolerant):
    id: str = _id_field()
    name: str = ""
    url: str = ""
    camp_ids: list[str] = Field(default_factory=list)
    evt_types: list[str] = Field(default_factory=list, validation_alias=AliasChoices("evt_types", "event_types"))
    status: str | None = None
    secret: str | None = None
