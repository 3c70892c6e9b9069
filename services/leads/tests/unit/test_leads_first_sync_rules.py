"""The first sync's rules (leads.domain.first_sync): examples of each outcome, and properties against an independent
oracle written the simple way (a scan of a list of leads per row, no shared helper), over generated PlusVibe rows
and leads: the same outcome per row, one lead per email at most, names and campaigns never overwritten, pages
changing nothing, and a second pass over the same rows changing nothing."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leads.domain.first_sync import (
    Action,
    Decision,
    KnownLead,
    PlusVibeLead,
    decide,
    email_domain,
    email_key,
    new_lead,
    plan_page,
    update_reason,
    website_host,
)


def ids() -> Iterator[uuid.UUID]:
    return (uuid.UUID(int=n) for n in itertools.count(1))


def known(*leads: KnownLead) -> dict[str, list[KnownLead]]:
    out: dict[str, list[KnownLead]] = {}
    for lead in leads:
        out.setdefault(email_key(lead.email), []).append(lead)
    return out


LEAD = uuid.UUID(int=999)


def test_a_missing_lead_is_created_and_a_second_row_of_its_email_in_another_campaign_is_a_conflict() -> None:
    rows = [PlusVibeLead("Ada@Shop.test", "Ada", "Baker", "c1"), PlusVibeLead("ada@shop.test", "Ada", None, "c2"),
            PlusVibeLead(" ADA@shop.test ", None, None, "c1")]
    first, second, third = plan_page(rows, {}, iter(ids()).__next__)
    assert (first.action, first.lead_id, first.conflicts) == (Action.CREATE, uuid.UUID(int=1), ())
    assert (second.action, second.lead_id) == (Action.LEAVE, None)
    assert [(c.lead_id, c.field, c.ours, c.plusvibe) for c in second.conflicts] == [
        (uuid.UUID(int=1), "campaign", "c1", "c2")]
    assert (third.action, third.lead_id, third.conflicts) == (Action.KEEP, uuid.UUID(int=1), ())


def test_an_unlinked_lead_is_linked_and_its_differing_name_is_reported_not_changed() -> None:
    ours = KnownLead(LEAD, "bob@shop.test", "Robert", None, None)
    decision = decide(PlusVibeLead("BOB@shop.test", "Bob", " ", "c1"), [ours], uuid.uuid4)
    assert (decision.action, decision.lead_id) == (Action.LINK, LEAD)
    assert [(c.field, c.ours, c.plusvibe) for c in decision.conflicts] == [("first_name", "Robert", "Bob")]


def test_names_agree_up_to_case_and_blanks_and_an_empty_plusvibe_value_agrees_with_anything() -> None:
    ours = KnownLead(LEAD, "cy@shop.test", "Cy ", "de la Rue", "c1")
    for row in (PlusVibeLead("cy@shop.test", "cy", "DE LA RUE", "c1"), PlusVibeLead("cy@shop.test", "", None, "c1")):
        assert decide(row, [ours], uuid.uuid4) == Decision(row, Action.KEEP, LEAD, ())
    blank = KnownLead(LEAD, "cy@shop.test", None, None, "c1")
    assert [c.field for c in decide(PlusVibeLead("cy@shop.test", "Cy", None, "c1"), [blank], uuid.uuid4).conflicts] \
        == ["first_name"]


def test_a_lead_in_another_campaign_is_left_with_every_disagreement_reported() -> None:
    ours = KnownLead(LEAD, "dee@shop.test", "Dee", "Old", "c9")
    decision = decide(PlusVibeLead("dee@shop.test", "Dee", "New", "c1"), [ours], uuid.uuid4)
    assert decision.action is Action.LEAVE
    assert [(c.field, c.ours, c.plusvibe) for c in decision.conflicts] == [("campaign", "c9", "c1"),
                                                                          ("last_name", "Old", "New")]


def test_an_email_shared_by_two_leads_or_no_address_at_all_changes_nothing_and_is_reported() -> None:
    twins = [KnownLead(uuid.uuid4(), "eve@shop.test", None, None, None) for _ in range(2)]
    shared = decide(PlusVibeLead("eve@shop.test", campaign_id="c1"), twins, uuid.uuid4)
    assert (shared.action, [(c.field, c.ours) for c in shared.conflicts]) == (Action.LEAVE, [("email", "2 leads")])
    odd = decide(PlusVibeLead("not an address", campaign_id="c1"), [], uuid.uuid4)
    assert (odd.action, [(c.field, c.plusvibe) for c in odd.conflicts]) == (Action.LEAVE, [("email", "not an address")])


def test_a_created_lead_takes_the_company_and_a_domain_from_the_website_or_a_company_address() -> None:
    lead = new_lead(PlusVibeLead(" Ada@Shop.test ", " Ada ", "", "c1", "Shop Ltd", "https://WWW.Shop.test:443/about"))
    assert (lead.email, lead.first_name, lead.last_name, lead.campaign_id, lead.company_name, lead.domain) == (
        "ada@shop.test", "Ada", None, "c1", "Shop Ltd", "www.shop.test")
    assert new_lead(PlusVibeLead("ada@bakery.test", website="not a site")).domain == "bakery.test"
    assert new_lead(PlusVibeLead("ada@gmail.com")).domain is None  # a free-mail address tells no company
    assert website_host("ftp://files.shop.test/x?y#z") == "files.shop.test"
    assert email_domain("someone@localhost") is None
    assert len(update_reason("c" * 200)) == 100


# --- properties --------------------------------------------------------------------------------------------------
LOCALS = ("ada", "bob", "cy")
DOMAINS = ("shop.test", "bakery.test")
NAMES = (None, "", "Ada", "ada ", "Bob", "  ")
CAMPAIGNS = ("c1", "c2", "c3")


@st.composite
def emails(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(("", "no-at-sign", "two@@x.test", "x@nodot")))
    address = f"{draw(st.sampled_from(LOCALS))}@{draw(st.sampled_from(DOMAINS))}"
    shout = draw(st.lists(st.booleans(), min_size=len(address), max_size=len(address)))
    cased = "".join(ch.upper() if up else ch for ch, up in zip(address, shout, strict=True))
    return draw(st.sampled_from(("", " "))) + cased + draw(st.sampled_from(("", "  ")))


rows_strategy = st.lists(st.builds(PlusVibeLead, email=emails(), first_name=st.sampled_from(NAMES),
                                   last_name=st.sampled_from(NAMES),
                                   campaign_id=st.sampled_from((None, "", *CAMPAIGNS))), max_size=25)
leads_strategy = st.lists(st.tuples(st.sampled_from(LOCALS), st.sampled_from(DOMAINS), st.sampled_from(NAMES),
                                    st.sampled_from(NAMES), st.sampled_from((None, *CAMPAIGNS))), max_size=6)


def _ours(drawn: list[tuple[str, str, str | None, str | None, str | None]]) -> list[KnownLead]:
    return [KnownLead(uuid.UUID(int=10_000 + n), f"{local}@{domain}", first, last, campaign)
            for n, (local, domain, first, last, campaign) in enumerate(drawn)]


def oracle(rows: list[PlusVibeLead], existing: list[KnownLead]) -> list[tuple[str, list[str]]]:
    """Per row: what happens to a lead and the fields reported, from a plain list of leads scanned per row."""
    leads: list[dict[str, Any]] = [dict(id=x.id, email=x.email, first_name=x.first_name, last_name=x.last_name,
                                        campaign_id=x.campaign_id) for x in existing]
    out: list[tuple[str, list[str]]] = []
    for row in rows:
        address = row.email.strip().lower()
        if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address) is None:
            out.append(("left", ["email"]))
            continue
        same = [lead for lead in leads if lead["email"].lower() == address]
        campaign = (row.campaign_id or "").strip() or None
        if not same:
            leads.append(dict(id=None, email=address, first_name=row.first_name, last_name=row.last_name,
                              campaign_id=campaign))
            out.append(("created", []))
            continue
        if len(same) > 1:
            out.append(("left", ["email"]))
            continue
        lead = same[0]
        differing = []
        for name in ("first_name", "last_name"):
            theirs = (getattr(row, name) or "").strip().lower()
            if theirs and (lead[name] or "").strip().lower() != theirs:
                differing.append(name)
        if campaign is None or campaign == lead["campaign_id"]:
            out.append(("unchanged", differing))
        elif lead["campaign_id"] is None:
            lead["campaign_id"] = campaign
            out.append(("linked", differing))
        else:
            out.append(("left", ["campaign", *differing]))
    return out


def _applied(decisions: list[Decision], before: list[KnownLead]) -> list[KnownLead]:
    """Our leads after the decisions (as the handler applies them: create, or set the campaign)."""
    after = {lead.id: lead for lead in before}
    for d in decisions:
        if d.action is Action.CREATE and d.lead_id is not None:
            fields = new_lead(d.row)
            after[d.lead_id] = KnownLead(d.lead_id, fields.email, fields.first_name, fields.last_name,
                                         fields.campaign_id)
        elif d.action is Action.LINK and d.lead_id is not None:
            old = after[d.lead_id]
            after[d.lead_id] = KnownLead(old.id, old.email, old.first_name, old.last_name, new_lead(d.row).campaign_id)
    return list(after.values())


@settings(max_examples=400, deadline=None)
@given(rows=rows_strategy, drawn=leads_strategy)
def test_each_row_does_what_the_oracle_says(rows: list[PlusVibeLead], drawn: list[Any]) -> None:
    existing = _ours(drawn)
    decisions = plan_page(rows, known(*existing), ids().__next__)
    assert [(d.action.value, [c.field for c in d.conflicts]) for d in decisions] == oracle(rows, existing)


@settings(max_examples=300, deadline=None)
@given(rows=rows_strategy, drawn=leads_strategy, page=st.integers(1, 7))
def test_no_overwrite_one_lead_per_email_pages_change_nothing_and_a_second_pass_is_a_no_op(
        rows: list[PlusVibeLead], drawn: list[Any], page: int) -> None:
    existing = _ours(drawn)
    whole = plan_page(rows, known(*existing), ids().__next__)
    after = _applied(whole, existing)

    # Our leads keep their names; a campaign is only ever set where there was none.
    for before in existing:
        now = next(lead for lead in after if lead.id == before.id)
        assert (now.first_name, now.last_name, now.email) == (before.first_name, before.last_name, before.email)
        assert before.campaign_id is None or now.campaign_id == before.campaign_id
    # At most one lead created per email, and none for an email we had.
    created = [email_key(d.row.email) for d in whole if d.action is Action.CREATE]
    assert len(created) == len(set(created))
    assert not set(created) & {email_key(lead.email) for lead in existing}

    # In pages (each page seeing what the pages before it applied) the rows do exactly the same.
    state, paged = existing, []
    new_ids = ids()
    for start in range(0, len(rows), page):
        chunk = plan_page(rows[start:start + page], known(*state), new_ids.__next__)
        state = _applied(chunk, state)
        paged.extend(chunk)
    assert [(d.action, d.lead_id, d.conflicts) for d in paged] == [(d.action, d.lead_id, d.conflicts) for d in whole]

    # A second pass over the same rows creates and links nothing (what was created or linked is now unchanged) and
    # reports the very same disagreements.
    again = plan_page(rows, known(*after), ids().__next__)
    settled = {Action.CREATE: Action.KEEP, Action.LINK: Action.KEEP, Action.KEEP: Action.KEEP,
               Action.LEAVE: Action.LEAVE}
    assert [d.action for d in again] == [settled[d.action] for d in whole]
    assert [d.conflicts for d in again] == [d.conflicts for d in whole]
    assert _applied(again, after) == after
