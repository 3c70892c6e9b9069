"""What a workspace's webhooks are verified against, without a database: the sealed secret opens only with this
deployment's KEK and only in the workspace's webhook-secret context, any other presented header is refused, and the
per-workspace cache reads again after its TTL or an invalidation."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from contracts.integrations import webhook_secret_context
from plusvibe.credentials import KeyRing, new_kek
from unibox.adapters.webhook_secrets import NO_SECRET, UNREADABLE, WebhookSecretCache, open_secret, secret_matches

RING = KeyRing([new_kek()])
SECRET = "s3cr3t-Öß-webhook"  # non-ASCII on purpose: compared as bytes
SEALED = RING.seal(SECRET, context=webhook_secret_context("default"))


def test_the_secret_opens_only_in_its_own_workspace_context_with_this_kek() -> None:
    opened = open_secret(SEALED, RING, "default")
    assert opened.admits(SECRET) and not opened.unreadable
    assert open_secret(SEALED, RING, "other") == UNREADABLE  # another workspace's secret
    as_api_key = RING.seal(SECRET, context="default")  # the API key's context: not a webhook secret
    assert open_secret(as_api_key, RING, "default") == UNREADABLE
    assert open_secret(SEALED, KeyRing([new_kek()]), "default") == UNREADABLE  # another deployment's KEK
    assert open_secret(SEALED, None, "default") == UNREADABLE  # no KEK configured
    assert open_secret("not-a-token", RING, "default") == UNREADABLE
    assert open_secret("", RING, "default") == NO_SECRET
    assert open_secret(None, RING, "default") == NO_SECRET


def test_a_refusing_secret_admits_nothing() -> None:
    for refusing in (NO_SECRET, UNREADABLE, open_secret(RING.seal("", context="default/webhook-secret"), RING,
                                                        "default")):
        assert not any(refusing.admits(p) for p in (None, "", SECRET))
    assert not secret_matches("", "") and not secret_matches(None, "")


near_misses = st.builds(lambda head, tail: head + SECRET + tail, st.text(max_size=3), st.text(max_size=3))
prefixes = st.integers(min_value=0, max_value=len(SECRET)).map(lambda n: SECRET[:n])


@settings(max_examples=300, deadline=None)
@given(presented=st.one_of(st.none(), st.text(), near_misses, prefixes))
def test_any_presented_header_other_than_the_secret_is_refused(presented: str | None) -> None:
    assume(presented != SECRET)
    opened = open_secret(SEALED, RING, "default")
    assert not opened.admits(presented)
    assert opened.admits(SECRET)


class _Store:
    def __init__(self) -> None:
        self.sealed: dict[str, str] = {}
        self.reads = 0
        self.during_read: list[WebhookSecretCache] = []

    async def read(self, workspace: str) -> str | None:
        self.reads += 1
        for cache in self.during_read:  # a change committed while this read was under way
            cache.invalidate()
        return self.sealed.get(workspace)


async def test_the_cache_reads_once_per_ttl_and_again_after_an_invalidation() -> None:
    store, now = _Store(), [100.0]
    cache = WebhookSecretCache(store.read, RING, ttl_s=5, clock=lambda: now[0])
    assert (await cache.secret("default")).secret is None
    store.sealed["default"] = SEALED
    now[0] += 5  # still within the TTL: the refusal is kept
    assert (await cache.secret("default")).secret is None and store.reads == 1
    now[0] += 0.1
    assert (await cache.secret("default")).admits(SECRET) and store.reads == 2

    store.sealed["default"] = ""  # disconnected
    assert (await cache.secret("default")).admits(SECRET) and store.reads == 2
    cache.invalidate()
    assert (await cache.secret("default")).secret is None and store.reads == 3


async def test_a_read_overtaken_by_an_invalidation_is_served_once_but_not_kept() -> None:
    store = _Store()
    store.sealed["default"] = SEALED
    cache = WebhookSecretCache(store.read, RING, ttl_s=3600)
    store.during_read.append(cache)
    assert (await cache.secret("default")).admits(SECRET)
    store.during_read.clear()
    store.sealed["default"] = ""
    assert (await cache.secret("default")).secret is None and store.reads == 2
