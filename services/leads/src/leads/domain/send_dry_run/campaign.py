"""The dry run over a whole campaign: every step × variation × subject and body, for every storage rule that
may hold and every mailbox that may send (docs/TEMPLATES.md)."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from leads.domain.send_dry_run.context import SENDER_FIELDS, LeadObject, StorageRule, rendering_context
from leads.domain.send_dry_run.evaluate import Evaluator, Hole, Rendered
from leads.domain.send_dry_run.liquid_pass import CompiledTemplate, compile_template
from leads.domain.send_dry_run.merge_tags import MalformedTemplate

PARTS = ("subject", "body")


@dataclass(frozen=True)
class TemplateRef:
    step: int
    variation: str
    part: str  # "subject" | "body"


class TemplateFault(Exception):
    """A template of the campaign cannot be rendered (unclosed `{{`, broken Liquid): the campaign's problem."""

    def __init__(self, ref: TemplateRef, message: str) -> None:
        super().__init__(f"step {ref.step}, variation {ref.variation}, {ref.part}: {message}")
        self.ref = ref
        self.message = message


@dataclass(frozen=True)
class Variation:
    name: str
    subject: str
    body: str


@dataclass(frozen=True)
class CampaignTemplates:
    """A campaign's templates, compiled. `names`: every variable any template names."""

    parts: tuple[tuple[TemplateRef, CompiledTemplate], ...]
    names: frozenset[str]
    steps: int

    @classmethod
    def compile(cls, steps: Iterable[Iterable[Variation]]) -> CampaignTemplates | None:
        """None when there is nothing to render (no step has a non-blank template); TemplateFault if malformed."""
        parts: list[tuple[TemplateRef, CompiledTemplate]] = []
        count = 0
        for number, variations in enumerate(steps, start=1):
            count = number
            for variation in variations:
                for part in PARTS:
                    ref = TemplateRef(number, variation.name, part)
                    try:
                        parts.append((ref, compile_template(getattr(variation, part) or "")))
                    except MalformedTemplate as exc:
                        raise TemplateFault(ref, str(exc)) from None
        if not any(template.source.strip() for _, template in parts):
            return None
        names = frozenset(name for _, template in parts for name in template.names)
        return cls(tuple(parts), names, count)



@dataclass(frozen=True)
class Problem:
    ref: TemplateRef
    hole: Hole
    rule: StorageRule


@dataclass(frozen=True)
class PartPreview:
    ref: TemplateRef
    text: str  # exactly what PlusVibe would send (spintax: its first option)
    marked: str  # HTML: the body as is (a subject escaped), each problem wrapped in <mark class="pv-problem">
    holes: tuple[Hole, ...]


@dataclass
class DryRun:
    problems: list[Problem] = field(default_factory=list)
    previews: list[PartPreview] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def _marked(rendered: Rendered, *, is_html: bool) -> str:
    out: list[str] = []
    for text, hole in rendered.segments:
        shown = text if is_html else html.escape(text)
        if hole is None:
            out.append(shown)
            continue
        token = html.escape(hole.source)
        inner = shown if hole.kind == "invalid" else token
        out.append(f'<mark class="pv-problem" data-token="{token}" data-kind="{hole.kind}">{inner}</mark>')
    return "".join(out)


def _sender_signature(sender: Mapping[str, str], names: frozenset[str]) -> tuple[tuple[str, bool, bool], ...]:
    """What of a mailbox's sender fields can change a merge-tag-only part's problems: blank or not, `{{` or not."""
    used = sorted(f for f in SENDER_FIELDS if f in {n.lower() for n in names})
    return tuple((f, bool(sender.get(f, "").strip()), "{{" in sender.get(f, "")) for f in used)


def _senders_for(template: CompiledTemplate, senders: list[Mapping[str, str]]) -> list[int]:
    """The mailboxes a part must be rendered with: one if it names no sender field; else one per distinct
    signature (every mailbox when Liquid may compare sender values). The first mailbox always (the preview's)."""
    if not any(name.lower().startswith("sender_") for name in template.names):
        return [0]
    if template.uses_liquid:
        return list(range(len(senders)))
    chosen: dict[tuple[tuple[str, bool, bool], ...], int] = {}
    for index, sender in enumerate(senders):
        chosen.setdefault(_sender_signature(sender, template.names), index)
    return sorted(chosen.values())


def dry_run(
    campaign: CampaignTemplates,
    lead: LeadObject,
    *,
    rules: Iterable[StorageRule],
    senders: Iterable[Mapping[str, str]],
    is_valid: Callable[[str, str], bool],
) -> DryRun:
    """Render every part under every rule and every mailbox that could change its outcome; each (part,
    placeholder) problem is reported once. The previews are those of the first rule and the first mailbox.
    TemplateFault when Liquid fails to render."""
    outcome = DryRun()
    seen: set[tuple[TemplateRef, str, str]] = set()
    sender_list = list(senders) or [{}]
    rule_list = list(rules)
    evaluators: dict[tuple[int, int], Evaluator] = {}
    for ref, template in campaign.parts:
        for rule_index, rule in enumerate(rule_list):
            for sender_index in _senders_for(template, sender_list):
                evaluator = evaluators.get((rule_index, sender_index))
                if evaluator is None:
                    evaluator = Evaluator(rendering_context(lead, rule, sender_list[sender_index]), is_valid)
                    evaluators[(rule_index, sender_index)] = evaluator
                try:
                    rendered = evaluator.render(template.nodes(evaluator.context))
                except MalformedTemplate as exc:
                    raise TemplateFault(ref, str(exc)) from None
                for hole in rendered.holes:
                    if (ref, hole.source, hole.kind) not in seen:
                        seen.add((ref, hole.source, hole.kind))
                        outcome.problems.append(Problem(ref, hole, rule))
                if rule_index == 0 and sender_index == 0:
                    outcome.previews.append(PartPreview(ref, rendered.text,
                                                        _marked(rendered, is_html=ref.part == "body"),
                                                        tuple(rendered.holes)))
    return outcome
