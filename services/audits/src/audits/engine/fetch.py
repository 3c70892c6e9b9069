"""The capped fetcher: one GET with manual, re-validated redirects, byte and time caps, and the
evidence an audit needs (redirect chain, timings, headers, decoded body, peer certificate)."""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Final

import httpx

from audits.domain.result import RedirectHop
from audits.engine.decoding import CappedDecoder, DecodedTooLarge
from audits.engine.errors import AuditFailure, FailureKind
from audits.engine.settings import AuditEngineSettings
from audits.engine.ssrf import SsrfGuard
from audits.engine.transport import Dialer, DialRefused, PinnedTransport, default_dialer

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_HAS_SCHEME: Final = re.compile(r"^\s*[a-zA-Z][a-zA-Z0-9+.\-]*:")
_ACCEPT: Final = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"


class CertificateRejected(AuditFailure):
    """TLS certificate verification failed; the audit records it and looks at the page anyway."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(FailureKind.TLS_ERROR, f"the certificate of {url} is not valid ({reason})")
        self.reason = reason


@dataclass(slots=True)
class FetchResult:
    """What one GET (after redirects) returned."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    raw_bytes: int
    hops: list[RedirectHop]
    ttfb_s: float
    total_s: float
    truncated: bool = False
    peer_cert_der: bytes | None = None
    extra: dict[str, str] = field(default_factory=dict)


def make_ssl_context(settings: AuditEngineSettings, *, verify: bool) -> ssl.SSLContext:
    """Verifying context (system CAs, or `ca_file` for tests) or a non-verifying one for inspection."""
    return _ssl_context(str(settings.ca_file) if settings.ca_file is not None else None, verify)


# Loading the system CA store takes ~17 ms and a few hundred KB; contexts are immutable once
# built and safe to share between connections, so build each kind once per process.
@functools.lru_cache(maxsize=8)
def _ssl_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_file) if ca_file is not None else ssl.create_default_context()


def _cause_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def explain_transport_error(exc: httpx.HTTPError, url: str) -> AuditFailure:
    """Turn an httpx/httpcore error into an operator-readable AuditFailure."""
    chain = _cause_chain(exc)
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            return CertificateRejected(url, item.verify_message or item.reason or "verification failed")
    for item in chain:
        if isinstance(item, DialRefused):
            return AuditFailure(FailureKind.BLOCKED_ADDRESS, f"{url} was not checked before connecting")
        if isinstance(item, ConnectionRefusedError):
            return AuditFailure(FailureKind.CONNECTION_REFUSED, f"{url} refused the connection")
        if isinstance(item, ssl.SSLError):
            return AuditFailure(FailureKind.TLS_ERROR, f"the secure connection to {url} failed ({item.reason})")
    if isinstance(exc, httpx.TimeoutException):
        return AuditFailure(FailureKind.TIMEOUT, f"{url} did not answer in time")
    if isinstance(exc, httpx.ProtocolError):
        return AuditFailure(FailureKind.BAD_RESPONSE, f"{url} sent a malformed HTTP response")
    if isinstance(exc, httpx.ConnectError):
        return AuditFailure(FailureKind.CONNECTION_ERROR, f"could not connect to {url}")
    return AuditFailure(FailureKind.CONNECTION_ERROR, f"the connection to {url} broke off")


def _peer_cert(response: httpx.Response) -> bytes | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return der if isinstance(der, bytes) else None


def next_url(current: httpx.URL, location: str) -> str:
    """Resolve a Location header against the current URL the way a browser would."""
    cut = min((i for i in (location.find("?"), location.find("#")) if i >= 0), default=len(location))
    location = location[:cut].replace("\\", "/") + location[cut:]
    if _HAS_SCHEME.match(location):
        return location.strip()
    try:
        return str(current.join(location.strip()))
    except httpx.InvalidURL as exc:
        raise AuditFailure(FailureKind.BLOCKED_URL, "the site redirected to an invalid address") from exc


class Fetcher:
    """GETs through the SSRF guard and the pinned transport; one instance per audit and TLS mode."""

    def __init__(
        self,
        settings: AuditEngineSettings,
        guard: SsrfGuard,
        *,
        verify: bool = True,
        dialer: Dialer | None = None,
    ) -> None:
        self._settings = settings
        self._guard = guard
        self._transport = PinnedTransport(
            guard, ssl_context=make_ssl_context(settings, verify=verify), dialer=dialer or default_dialer
        )
        # The client only builds requests (headers, timeouts); sending goes straight to the transport,
        # because httpx would parse a redirect's Location itself, even with redirects off.
        self._client = httpx.AsyncClient(
            transport=self._transport,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
            headers={
                "User-Agent": settings.user_agent,
                "Accept": _ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            },
        )

    async def aclose(self) -> None:
        await self._client.aclose()  # closes the transport too

    async def get(
        self,
        url: str,
        *,
        follow: bool = True,
        max_bytes: int | None = None,
        truncate: bool = False,
    ) -> FetchResult:
        """GET `url`; every hop is admitted by the guard first. Raises AuditFailure."""
        limit = max_bytes or self._settings.max_body_bytes
        hops: list[RedirectHop] = []
        seen: set[str] = set()
        started = time.monotonic()
        current = url
        peer_cert: bytes | None = None
        for _ in range(self._settings.max_redirects + 1):
            target = await self._guard.admit(current)
            hop_url = str(target.parsed.url)
            if hop_url in seen:
                raise AuditFailure(FailureKind.REDIRECT_LOOP, f"the site redirects in a loop ({hop_url})")
            seen.add(hop_url)
            hop_started = time.monotonic()
            try:
                async with asyncio.timeout(self._settings.request_timeout_s):
                    request = self._client.build_request("GET", target.parsed.url)
                    response = await self._transport.handle_async_request(request)
                    try:
                        ttfb = time.monotonic() - hop_started
                        if peer_cert is None:
                            peer_cert = _peer_cert(response)
                        location = response.headers.get("location")
                        if follow and response.status_code in REDIRECT_STATUSES and location:
                            hops.append(
                                RedirectHop(
                                    url=hop_url,
                                    status=response.status_code,
                                    location=location[:2000],
                                    ttfb_ms=round(ttfb * 1000, 1),
                                )
                            )
                            current = next_url(target.parsed.url, location)
                            continue
                        body, raw_bytes, truncated = await self._read(response, limit, truncate, hop_url)
                    finally:
                        await response.aclose()
            except TimeoutError as exc:
                raise AuditFailure(
                    FailureKind.TIMEOUT,
                    f"{hop_url} did not finish answering within {self._settings.request_timeout_s:g} s",
                    url=hop_url,
                ) from exc
            except httpx.HTTPError as exc:
                failure = explain_transport_error(exc, hop_url)
                failure.url = hop_url
                raise failure from exc
            hops.append(
                RedirectHop(url=hop_url, status=response.status_code, location=location, ttfb_ms=round(ttfb * 1000, 1))
            )
            return FetchResult(
                url=hop_url,
                status=response.status_code,
                headers=response.headers,
                body=body,
                raw_bytes=raw_bytes,
                hops=hops,
                ttfb_s=ttfb,
                total_s=time.monotonic() - started,
                truncated=truncated,
                peer_cert_der=peer_cert,
            )
        raise AuditFailure(
            FailureKind.TOO_MANY_REDIRECTS,
            f"{url} redirects more than {self._settings.max_redirects} times",
        )

    async def _read(self, response: httpx.Response, limit: int, truncate: bool, url: str) -> tuple[bytes, int, bool]:
        declared = response.headers.get("content-length", "")
        if not truncate and declared.isdigit() and int(declared) > limit:
            raise AuditFailure(FailureKind.TOO_LARGE, f"{url} is larger than {limit:,} bytes")
        decoder = CappedDecoder(response.headers.get("content-encoding", ""), self._settings.max_decoded_bytes)
        body = bytearray()
        raw = 0
        try:
            async for chunk in response.aiter_raw():
                raw += len(chunk)
                if raw > limit:
                    if truncate:
                        return bytes(body), raw, True
                    raise AuditFailure(FailureKind.TOO_LARGE, f"{url} is larger than {limit:,} bytes")
                body += decoder.feed(chunk)
                if truncate and len(body) > limit:
                    return bytes(body[:limit]), raw, True
        except DecodedTooLarge as exc:
            if truncate:
                return bytes(body), raw, True
            raise AuditFailure(
                FailureKind.TOO_LARGE,
                f"{url} expands to more than {self._settings.max_decoded_bytes:,} bytes when decompressed",
            ) from exc
        return bytes(body), raw, False
