"""Deterministic email sequences: one step per finding, then follow-up angles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from copywriter.angles import Angle, angles, report_line, score_summary
from copywriter.facts import LeadFacts
from copywriter.findings import Finding, findings_from_profile
from copywriter.phrasebook import PHRASEBOOKS, Phrasebook
from copywriter.sanitise import shorten
from copywriter.tone import Tone

SUBJECT_MAX = 80


@dataclass(frozen=True)
class StepCopy:
    step: int
    subject: str
    body: str  # plain text, paragraphs separated by blank lines
    cta: str
    cites: str  # the finding or angle key this step is about


def _subject(template: str, company: str, topic: str) -> str:
    subject = template.format(company=company, topic=topic)
    if len(subject) > SUBJECT_MAX:
        room = SUBJECT_MAX - (len(subject) - len(company))
        subject = template.format(company=shorten(company, max(room, 10)), topic=topic)
    subject = shorten(subject, SUBJECT_MAX)
    return subject[:1].upper() + subject[1:]


def _greeting(book: Phrasebook, lead: LeadFacts) -> str:
    name = lead.greeting_name()
    if name:
        return book.greeting.format(name=name)
    company = lead.known_company()
    if not company and "{company}" in book.greeting_fallback:
        return "Hello,"
    return book.greeting_fallback.format(company=company)


def _finding_step(book: Phrasebook, step: int, finding: Finding, site: str, profile: Mapping[str, object]) -> list[str]:
    if step == 1:
        paragraphs = [f"{book.opener_first.format(site=site)} {book.cite_first.format(headline=finding.headline)} {finding.impact}"]
        context = " ".join(p for p in (score_summary(profile, site), report_line(profile)) if p)
        if context:
            paragraphs.append(context)
        return paragraphs
    opener = book.openers_later[(step - 2) % len(book.openers_later)].format(site=site)
    return [f"{opener} {book.cite_later.format(headline=finding.headline)} {finding.impact}"]


def _angle_step(book: Phrasebook, step: int, angle: Angle, site: str) -> list[str]:
    if step == 1:
        return [f"{book.opener_first.format(site=site)} {angle.sentence}"]
    opener = book.openers_later[(step - 2) % len(book.openers_later)].format(site=site)
    return [f"{opener} {angle.sentence}"]


def generate_sequence(lead: LeadFacts, profile: Mapping[str, object], *, tone: Tone, steps: int) -> list[StepCopy]:
    """Subject, body and CTA for steps 1..`steps`; each step cites a different finding while any remain.

    Never raises on a partial or odd profile; raises ValueError only when `steps` < 1.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    book = PHRASEBOOKS[Tone(tone)]
    company = lead.company()
    site = lead.site() or "your website"
    greeting = _greeting(book, lead)
    findings = findings_from_profile(profile)
    follow_ups = angles(profile, site)
    result: list[StepCopy] = []
    for step in range(1, steps + 1):
        index = step - 1
        if index < len(findings):
            finding = findings[index]
            topic, cites = finding.topic, finding.key
            paragraphs = _finding_step(book, step, finding, site, profile)
        else:
            angle = follow_ups[(index - len(findings)) % len(follow_ups)]
            topic, cites = angle.topic, angle.key
            paragraphs = _angle_step(book, step, angle, site)
        template = book.subject_first if step == 1 else book.subject_later
        body = "\n\n".join([greeting, *paragraphs, book.offer.format(company=company)])
        cta = book.ctas[index % len(book.ctas)]
        result.append(StepCopy(step, _subject(template, company, topic), body, cta, cites))
    return result


def body_variables(lead: LeadFacts, profile: Mapping[str, object], *, tone: Tone, steps: int) -> dict[str, str]:
    """The body merge keys: `email_subject/_body/_cta` (step 1) and `email_subject_N/_body_N/_cta_N`."""
    variables: dict[str, str] = {}
    for copy in generate_sequence(lead, profile, tone=tone, steps=steps):
        variables[f"email_subject_{copy.step}"] = copy.subject
        variables[f"email_body_{copy.step}"] = copy.body
        variables[f"email_cta_{copy.step}"] = copy.cta
    aliases = {f"email_{field}": variables[f"email_{field}_1"] for field in ("subject", "body", "cta")}
    return aliases | variables
