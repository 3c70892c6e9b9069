"""The webhook plan against hook tables it was not written for (Hypothesis): whatever a PlusVibe workspace holds —
hooks of other tools and of other deployments of the platform, leftovers of crashes and concurrent connects, stale URLs, secrets or event lists, disabled
hooks, the recorded id pointing anywhere — applying the plan leaves exactly one hook of the workspace, serving; it
never touches a hook it does not own; and planning again on the result changes nothing. The judge below applies a
plan the way PlusVibe would and checks the outcome by its own reading of "serving", not the module's."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from leads.domain.webhook_plan import HOOK_EVENTS, SeenHook, Wanted, hook_name, plan, webhook_url

WANTED = Wanted(name=hook_name("default", "http://127.0.0.1:8080/"), url=webhook_url("http://127.0.0.1:8080/", "default"),
                secret="s3cret")
# Besides other tools' hooks: another workspace's, and this workspace's hook of another deployment (staging).
NAMES = st.sampled_from([WANTED.name, hook_name("other", "http://127.0.0.1:8080"),
                         hook_name("default", "http://127.0.0.1:9090"), "zapier", ""])
URLS = st.sampled_from([WANTED.url, "http://127.0.0.1:9/api/plusvibe/webhooks/default", "http://127.0.0.1:7/zap"])
# Any subset of what the platform reads (plus a foreign name), and often all of it (with or without extras), so
# serving hooks are common.
_ANY_EVENT = st.sampled_from([*HOOK_EVENTS, "CAMPAIGN_AUTO_PAUSED"])
EVENT_SETS = st.one_of(st.frozensets(_ANY_EVENT, max_size=len(HOOK_EVENTS) + 1),
                       st.frozensets(_ANY_EVENT).map(lambda extra: frozenset(HOOK_EVENTS) | extra))
SECRETS = st.sampled_from(["s3cret", "old", None])


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[SeenHook], str]:
    hooks = draw(st.lists(st.builds(SeenHook, id=st.just(""), name=NAMES, url=URLS, events=EVENT_SETS,
                                    secret=SECRETS, active=st.booleans()), max_size=8))
    hooks = [replace(h, id=f"h{i}") for i, h in enumerate(hooks)]
    recorded = draw(st.sampled_from(["", "gone", *(h.id for h in hooks)]))
    return hooks, recorded


def serving_by_the_judge(h: SeenHook) -> bool:
    return (h.active and h.url == "http://127.0.0.1:8080/api/plusvibe/webhooks/default" and h.secret == "s3cret"
            and set(HOOK_EVENTS).issubset(h.events))


def apply(hooks: list[SeenHook], recorded: str) -> tuple[list[SeenHook], str]:
    decided = plan(hooks, WANTED, recorded_id=recorded)
    kept = [h for h in hooks if h.id not in decided.delete]
    if decided.keep is None:
        new = SeenHook(id="added", name=WANTED.name, url=WANTED.url, events=WANTED.events, secret=WANTED.secret)
        return [*kept, new], new.id
    return kept, decided.keep


@given(tables())
def test_one_serving_hook_remains_and_nothing_foreign_is_touched(table: tuple[list[SeenHook], str]) -> None:
    hooks, recorded = table
    after, kept = apply(hooks, recorded)
    owned = [h for h in after if h.name == WANTED.name or h.id == recorded]
    assert [h.id for h in owned] == [kept]
    assert serving_by_the_judge(owned[0])
    foreign = [h for h in hooks if h.name != WANTED.name and h.id != recorded]
    assert [h for h in after if h.id != kept] == foreign


@given(tables())
def test_a_serving_hook_is_kept_not_replaced_and_planning_again_changes_nothing(
        table: tuple[list[SeenHook], str]) -> None:
    hooks, recorded = table
    decided = plan(hooks, WANTED, recorded_id=recorded)
    if any(serving_by_the_judge(h) and (h.name == WANTED.name or h.id == recorded) for h in hooks):
        assert decided.keep is not None  # no churn: PlusVibe keeps delivering through the hook it has
    after, kept = apply(hooks, recorded)
    again = plan(after, WANTED, recorded_id=kept)
    assert (again.keep, again.delete) == (kept, ())


@given(tables())
def test_the_recorded_hook_is_preferred_when_it_serves(table: tuple[list[SeenHook], str]) -> None:
    hooks, recorded = table
    recorded_hook = next((h for h in hooks if h.id == recorded), None)
    if recorded_hook is not None and serving_by_the_judge(recorded_hook):
        assert plan(hooks, WANTED, recorded_id=recorded).keep == recorded


def test_deployments_name_their_hooks_apart_and_a_trailing_slash_changes_nothing() -> None:
    assert hook_name("default", "https://outreach.example.com") == hook_name("default", "https://outreach.example.com/")
    assert hook_name("default", "https://outreach.example.com") != hook_name("default", "https://staging.example.com")
    assert hook_name("default", "https://outreach.example.com") != hook_name("acme", "https://outreach.example.com")
