"""Fixed wording per tone. Plain strings with `str.format` fields filled from cleaned inputs only."""

from __future__ import annotations

from dataclasses import dataclass

from copywriter.tone import Tone


@dataclass(frozen=True)
class Phrasebook:
    greeting: str  # {name}
    greeting_fallback: str  # {company}
    opener_first: str  # {site}
    openers_later: tuple[str, ...]  # {site}
    cite_first: str  # {headline}
    cite_later: str  # {headline}
    offer: str  # {company}
    ctas: tuple[str, ...]
    subject_first: str  # {company} {topic}
    subject_later: str  # {company} {topic}


PHRASEBOOKS: dict[Tone, Phrasebook] = {
    Tone.FRIENDLY: Phrasebook(
        greeting="Hi {name},",
        greeting_fallback="Hi there,",
        opener_first="I took a quick look at {site} and put together a short website audit.",
        openers_later=(
            "Just following up on my note about {site}.",
            "Me again, with one more thing from the {site} audit.",
            "A quick extra thought on {site}.",
        ),
        cite_first="One thing stood out: {headline}.",
        cite_later="Another thing I spotted: {headline}.",
        offer="Happy to share how we would fix it, no strings attached.",
        ctas=(
            "Would a quick 15-minute chat this week work for you?",
            "Shall I send over the short fix list?",
            "Worth a quick call to go through it together?",
            "Happy to help whenever it suits you, just reply to this email.",
        ),
        subject_first="Quick idea for {company}: {topic}",
        subject_later="One more idea for {company}: {topic}",
    ),
    Tone.DIRECT: Phrasebook(
        greeting="{name},",
        greeting_fallback="Hello,",
        opener_first="I audited {site}.",
        openers_later=("Following up on {site}.", "One more point on {site}.", "Back on {site} once more."),
        cite_first="The main issue: {headline}.",
        cite_later="Next issue: {headline}.",
        offer="We can fix this for {company}, usually within a week.",
        ctas=(
            "Open to a 15-minute call this week?",
            "Reply 'yes' and I will send the fix plan.",
            "Should I send a quote?",
            "Is this worth fixing now?",
        ),
        subject_first="{company}: {topic}",
        subject_later="{company}, next fix: {topic}",
    ),
    Tone.CONSULTATIVE: Phrasebook(
        greeting="Hello {name},",
        greeting_fallback="Hello {company} team,",
        opener_first="I recently reviewed {site} as part of a short website audit.",
        openers_later=(
            "Following up on the audit of {site}, there is one more point worth your attention.",
            "Continuing from the review of {site}, here is a further observation.",
            "One last observation from the review of {site}.",
        ),
        cite_first="The finding I would prioritise: {headline}.",
        cite_later="The finding: {headline}.",
        offer="I would be glad to walk you through the findings and what to fix first.",
        ctas=(
            "Would a 20-minute review call next week be useful?",
            "Shall I share the prioritised fix plan?",
            "Would it help to go through the report together?",
            "If the timing is not right, just let me know and I will close the file.",
        ),
        subject_first="Website review for {company}: {topic}",
        subject_later="{company} website review: {topic}",
    ),
}
