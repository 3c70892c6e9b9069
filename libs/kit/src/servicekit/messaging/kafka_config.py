"""The one place Kafka client settings are chosen: producer safety (checked by the guard test) and the
connection's security — TLS, SASL, mTLS — shared by every producer, consumer and admin client of the kit,
the FastStream broker and the ops CLI.

Security comes from one settings block, `KafkaSecurity` (env `KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_*`,
`KAFKA_SSL_*`; held by `ServiceSettings.kafka_security`), or from a Kafka-tools properties file
(`read_command_config`, the `--command-config` of `outreach-ops`). `client_options` turns it into aiokafka
keyword arguments, `broker_security` into FastStream's `security=` object carrying the same values.
See docs/KAFKA-SECURITY.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

log = logging.getLogger(__name__)

# Idempotent producer with acknowledgement from every in-sync replica: a retried send never duplicates
# and an acknowledged send survives a broker crash.
PRODUCER_SAFETY: dict[str, Any] = {"acks": "all", "enable_idempotence": True}


def producer_options(client_id: str) -> dict[str, Any]:
    # No linger: the relay already sends a whole outbox batch before awaiting the acks, so the records of a
    # batch share requests anyway; a linger only delayed every hop (produce → consume p50 6.0 → 0.9 ms,
    # p99 9.0 → 2.2 ms at 50 msg/s on the local broker, docs/PERFORMANCE.md).
    # Kafka's default partitioning of keyed records, with murmur2 in native code (servicekit.messaging.partitioner).
    from servicekit.messaging.partitioner import KafkaDefaultPartitioner

    return {**PRODUCER_SAFETY, "client_id": client_id, "linger_ms": 0, "request_timeout_ms": 30000,
            "partitioner": KafkaDefaultPartitioner()}


# --- security -------------------------------------------------------------------------------------------------

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
DEFAULT_SASL_MECHANISM: SaslMechanism = "SCRAM-SHA-512"


class KafkaSecurity(BaseModel):
    """How the kit's Kafka clients authenticate and encrypt. Validated when built, so a bad combination stops
    the process at start with a message naming the variables — never a client that retries forever.

    - `PLAINTEXT` (default): nothing else may be set.
    - `SSL`: TLS; `ssl_cafile` (PEM) verifies the broker, else the system CAs; `ssl_certfile` (+ `ssl_keyfile`
      unless the key is in the same file) is the client certificate when the listener wants mTLS.
    - `SASL_SSL` / `SASL_PLAINTEXT`: SASL `sasl_mechanism` (SCRAM-SHA-512 by default) with `sasl_username` and
      `sasl_password`, over TLS (configured as for `SSL`) or not.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        protocol = self.security_protocol
        if self.uses_sasl:
            missing = [name for name, value in (("KAFKA_SASL_USERNAME", self.sasl_username),
                                                ("KAFKA_SASL_PASSWORD", self.sasl_password))
                       if not value or (isinstance(value, SecretStr) and not value.get_secret_value())]
            if missing:
                raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {' and '.join(missing)}")
        else:
            stray = [name for name, value in (("KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                                              ("KAFKA_SASL_USERNAME", self.sasl_username),
                                              ("KAFKA_SASL_PASSWORD", self.sasl_password)) if value]
            if stray:
                raise ValueError(f"{', '.join(stray)} set but KAFKA_SECURITY_PROTOCOL={protocol} uses no SASL "
                                 "(use SASL_SSL or SASL_PLAINTEXT, or unset them)")
        files = (("KAFKA_SSL_CAFILE", self.ssl_cafile), ("KAFKA_SSL_CERTFILE", self.ssl_certfile),
                 ("KAFKA_SSL_KEYFILE", self.ssl_keyfile))
        if not self.uses_tls:
            stray = [name for name, value in files if value]
            if stray:
                raise ValueError(f"{', '.join(stray)} set but KAFKA_SECURITY_PROTOCOL={protocol} uses no TLS "
                                 "(use SSL or SASL_SSL, or unset them)")
            return self
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("KAFKA_SSL_KEYFILE set without KAFKA_SSL_CERTFILE (the client certificate)")
        for name, path in files:
            if path is not None and not path.is_file():
                raise ValueError(f"{name}={path}: no such file")
        # Built now, so a CA or key that does not load stops the process here.
        try:
            self.ssl_context()
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"could not load the TLS files ({self.describe()}): {exc}") from exc
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """From `KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`,
        `KAFKA_SSL_CAFILE`, `KAFKA_SSL_CERTFILE`, `KAFKA_SSL_KEYFILE`; an empty variable counts as unset."""
        env = os.environ if environ is None else environ
        return cls(**{name: env[f"KAFKA_{name.upper()}"] for name in cls.model_fields
                      if env.get(f"KAFKA_{name.upper()}")})

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def mechanism(self) -> SaslMechanism | None:
        """The SASL mechanism in use (SCRAM-SHA-512 when SASL is on and none is named), else None."""
        return (self.sasl_mechanism or DEFAULT_SASL_MECHANISM) if self.uses_sasl else None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (None without TLS): one per distinct set of files in the process, so every client
        shares it and the files are read once (follows `model_copy` too: it is keyed by the paths)."""
        if not self.uses_tls:
            return None
        return _ssl_context(self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile)

    def describe(self) -> str:
        """For logs and error messages: everything but the password."""
        parts: list[str] = [self.security_protocol]
        if self.uses_sasl:
            parts.append(f"{self.mechanism} as {self.sasl_username!r}")
        if self.uses_tls:
            parts.append(f"CA {self.ssl_cafile or 'system'}")
            if self.ssl_certfile:
                parts.append(f"client certificate {self.ssl_certfile}")
        return ", ".join(parts)


@lru_cache(maxsize=16)
def _ssl_context(cafile: Path | None, certfile: Path | None, keyfile: Path | None) -> ssl.SSLContext:
    # aiokafka's helper: TLS 1.2+, the broker's certificate and host name always verified; the CA file, else
    # the system's CAs; the client certificate (mTLS) when given.
    from aiokafka.helpers import create_ssl_context

    context: ssl.SSLContext = create_ssl_context(cafile=cafile, certfile=certfile, keyfile=keyfile,
                                                 password=_no_key_password)
    return context


def _no_key_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key: a hang in a container.
    raise ValueError("KAFKA_SSL_KEYFILE is encrypted; give the client key unencrypted (PKCS#8 PEM)")


PLAINTEXT = KafkaSecurity()

ENV_NAMES = tuple(f"KAFKA_{name.upper()}" for name in KafkaSecurity.model_fields)


def security_from_env() -> KafkaSecurity:
    """`KafkaSecurity` from the process environment (the same variables `ServiceSettings` reads); one instance
    per distinct environment, so the TLS files are read once."""
    return _security_for(tuple((name, os.environ.get(name) or "") for name in ENV_NAMES))


@lru_cache(maxsize=8)
def _security_for(values: tuple[tuple[str, str], ...]) -> KafkaSecurity:
    return KafkaSecurity.from_env(dict(values))


def resolve(security: KafkaSecurity | None) -> KafkaSecurity:
    """`security`, or — for the callers that were given none — the environment's."""
    return security if security is not None else security_from_env()


def client_options(security: KafkaSecurity | None = None) -> dict[str, Any]:
    """The aiokafka keyword arguments (producer, consumer, admin client) for `security` (None: from env)."""
    sec = resolve(security)
    options: dict[str, Any] = {"security_protocol": sec.security_protocol}
    if sec.uses_tls:
        options["ssl_context"] = sec.ssl_context()
    if sec.uses_sasl:
        assert sec.sasl_password is not None  # checked by the validator
        options.update(sasl_mechanism=sec.mechanism, sasl_plain_username=sec.sasl_username,
                       sasl_plain_password=sec.sasl_password.get_secret_value())
    return options


def broker_security(security: KafkaSecurity | None = None) -> BaseSecurity | None:
    """FastStream's `KafkaBroker(security=...)` for `security` (None: from env): the object FastStream turns
    into the same aiokafka arguments as `client_options` (faststream.kafka.security.parse_security)."""
    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

    sec = resolve(security)
    context = sec.ssl_context()
    if not sec.uses_sasl:
        return BaseSecurity(ssl_context=context, use_ssl=True) if sec.uses_tls else None
    assert sec.sasl_username is not None and sec.sasl_password is not None
    kinds: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return kinds[str(sec.mechanism)](sec.sasl_username, sec.sasl_password.get_secret_value(),
                                     ssl_context=context, use_ssl=sec.uses_tls)


# --- the --command-config file ----------------------------------------------------------------------------------

class CommandConfigError(ValueError):
    """A --command-config file that cannot be used; the message names the file and the key."""


_JAAS_LOGIN_MODULES = {
    "org.apache.kafka.common.security.scram.ScramLoginModule": ("SCRAM-SHA-512", "SCRAM-SHA-256"),
    "org.apache.kafka.common.security.plain.PlainLoginModule": ("PLAIN",),
}
_JAAS_OPTION = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]+))')


def parse_properties(text: str) -> dict[str, str]:
    """Java `.properties` as Kafka's tools read them: `key=value` or `key: value`, `#`/`!` comments, a trailing
    backslash continues the line."""
    out: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.strip() if not logical else raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical += line[:-1]
            continue
        logical += line
        match = re.match(r"([^=:\s]+)\s*[=:]?\s*(.*)$", logical)
        if match:
            out[match.group(1)] = match.group(2).strip()
        logical = ""
    return out


def parse_jaas(value: str) -> tuple[str, dict[str, str]]:
    """(login module, options) of a one-entry `sasl.jaas.config` value."""
    head, _, rest = value.strip().partition(" ")
    options = {m.group(1): (m.group(2) if m.group(2) is not None else m.group(3) or "").replace('\\"', '"')
               for m in _JAAS_OPTION.finditer(rest)}
    return head, options


def read_command_config(path: str | os.PathLike[str]) -> KafkaSecurity:
    """A `KafkaSecurity` from a Kafka-tools client properties file (`kafka-topics --command-config FILE`):
    `security.protocol`, `sasl.mechanism`, `sasl.jaas.config` (username/password of the ScramLoginModule or
    PlainLoginModule line), and the TLS files as PEM: `ssl.truststore.location` (type PEM) or librdkafka's
    `ssl.ca.location` for the CA; `ssl.keystore.location` (type PEM: key + certificate chain in one file) or
    `ssl.certificate.location` + `ssl.key.location` for mTLS. JKS/PKCS12 stores are refused with a message
    (convert them to PEM), as is anything that would be silently ignored."""
    source = Path(path)
    try:
        props = parse_properties(source.read_text())
    except OSError as exc:
        raise CommandConfigError(f"{source}: cannot read the client config: {exc}") from exc

    def fail(message: str) -> CommandConfigError:
        return CommandConfigError(f"{source}: {message}")

    values: dict[str, Any] = {}
    if "security.protocol" in props:
        values["security_protocol"] = props["security.protocol"]
    if "sasl.mechanism" in props:
        values["sasl_mechanism"] = props["sasl.mechanism"]
    if "sasl.jaas.config" in props:
        module, options = parse_jaas(props["sasl.jaas.config"])
        if module not in _JAAS_LOGIN_MODULES:
            raise fail(f"sasl.jaas.config: unsupported login module {module!r} "
                       f"(supported: {', '.join(sorted(_JAAS_LOGIN_MODULES))})")
        mechanism = str(values.get("sasl_mechanism", DEFAULT_SASL_MECHANISM)).upper()
        if mechanism not in _JAAS_LOGIN_MODULES[module]:
            raise fail(f"sasl.jaas.config uses {module.rsplit('.', 1)[-1]}, which does not serve sasl.mechanism="
                       f"{mechanism}")
        if "username" not in options or "password" not in options:
            raise fail("sasl.jaas.config needs username=\"...\" and password=\"...\"")
        values["sasl_username"], values["sasl_password"] = options["username"], options["password"]
    for store in ("truststore", "keystore"):
        kind = props.get(f"ssl.{store}.type", "PEM").upper()
        if f"ssl.{store}.location" in props and kind != "PEM":
            raise fail(f"ssl.{store}.type={kind}: only PEM files are supported (convert the store to PEM)")
    for key in ("ssl.key.password", "ssl.keystore.password", "ssl.truststore.certificates",
                "ssl.keystore.certificate.chain", "ssl.keystore.key"):
        if props.get(key):
            raise fail(f"{key} is not supported: give PEM files by location, with an unencrypted key")
    if props.get("ssl.endpoint.identification.algorithm", "https").lower() != "https":
        raise fail("ssl.endpoint.identification.algorithm: the broker's host name is always verified")
    cafile = props.get("ssl.ca.location") or props.get("ssl.truststore.location")
    certfile = props.get("ssl.certificate.location") or props.get("ssl.keystore.location")
    if cafile:
        values["ssl_cafile"] = cafile
    if certfile:
        values["ssl_certfile"] = certfile
    if props.get("ssl.key.location"):
        values["ssl_keyfile"] = props["ssl.key.location"]
    try:
        return KafkaSecurity(**values)
    except ValidationError as exc:
        raise fail("; ".join(str(err["msg"]).removeprefix("Value error, ") for err in exc.errors())) from exc


# --- startup errors ------------------------------------------------------------------------------------------

class KafkaStartupError(ConnectionError):
    """A Kafka client could not start; the message says why (authentication, TLS, wrong protocol, nothing
    listening), found by `diagnose` after the client's own, generic error."""


async def diagnose(bootstrap: str, security: KafkaSecurity | None = None, *, timeout_s: float = 10.0) -> str | None:
    """Opens one connection per bootstrap address the way the clients do (TLS, ApiVersions, SASL) and explains
    the first failure; None when every address connects (the failure was elsewhere)."""
    from aiokafka.conn import create_conn

    sec = resolve(security)
    options = client_options(sec)
    problems: list[str] = []
    for address in (a.strip() for a in bootstrap.split(",") if a.strip()):
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or address
        try:
            conn = await asyncio.wait_for(create_conn(host, int(port or 9092), client_id="kit-diagnose",
                                                      request_timeout_ms=int(timeout_s * 1000), **options),
                                          timeout_s)
        except Exception as exc:  # explained, then raised by the caller
            problems.append(f"{address}: {explain(exc, sec, timeout_s)}")
        else:
            conn.close()
            return None
    return "; ".join(problems) or f"no bootstrap address in {bootstrap!r}"


def explain(exc: BaseException, security: KafkaSecurity, timeout_s: float) -> str:
    from aiokafka import errors

    sec = security
    if isinstance(exc, errors.SaslAuthenticationFailed | errors.AuthenticationFailedError):
        return (f"authentication failed for SASL user {sec.sasl_username!r} ({sec.mechanism}): {exc} "
                "— check the SASL username, password and mechanism (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, "
                "KAFKA_SASL_MECHANISM, or the sasl.* lines of a --command-config file)")
    if isinstance(exc, errors.UnsupportedSaslMechanismError):
        return f"authentication impossible: {exc} — set KAFKA_SASL_MECHANISM to one the listener offers"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS: the broker's certificate is not trusted ({exc.verify_message}) — check KAFKA_SSL_CAFILE "
                "and that the certificate names this host")
    if isinstance(exc, ssl.SSLError):
        return (f"TLS handshake failed ({exc.reason or exc}) — is the listener TLS (KAFKA_SECURITY_PROTOCOL="
                f"{sec.security_protocol}), and does it want a client certificate (KAFKA_SSL_CERTFILE)?")
    if isinstance(exc, ConnectionRefusedError) or "Connect call failed" in str(exc):
        return "connection refused: nothing listens there (is the broker up, is the port right?)"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        hint = "" if sec.uses_tls else " — a TLS listener gives a plaintext client no answer"
        return f"no answer within {timeout_s:g}s{hint}"
    closed = isinstance(exc, ConnectionError | errors.KafkaConnectionError)
    if closed and not sec.uses_tls:
        return (f"the broker closed the connection without answering ({str(exc) or type(exc).__name__}) — the "
                f"listener probably wants TLS/SASL, but KAFKA_SECURITY_PROTOCOL={sec.security_protocol}")
    if closed:
        return (f"the broker closed the connection during the {sec.security_protocol} setup "
                f"({str(exc) or type(exc).__name__}) — is this listener {sec.security_protocol}, and does it want a "
                "client certificate (KAFKA_SSL_CERTFILE)?")
    return f"{type(exc).__name__}: {exc}"


def startup_wait_s() -> float:
    """How long a long-running worker waits at start for a broker that refuses connections (`KAFKA_STARTUP_WAIT_S`,
    default 60 s): a broker restarting, or started after the workers, is a moment to wait out, not a reason to
    exit. Anything else (authentication, TLS, a listener that never answers) still fails at once."""
    return float(os.environ.get("KAFKA_STARTUP_WAIT_S", "60"))


def _refused(address: str) -> bool:
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or address, int(port or 9092)), timeout=2.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:  # unreachable, timed out, ...: not "nothing listens"; the start will explain it
        return False


async def wait_for_listener(bootstrap: str, deadline: float, *, what: str) -> None:
    """Returns once some bootstrap address accepts TCP connections, or at `deadline` (event-loop time; the start
    then fails and explains why)."""
    addresses = [a.strip() for a in bootstrap.split(",") if a.strip()]
    loop = asyncio.get_running_loop()
    delay = 0.25
    while addresses and await _all_refuse(addresses):
        if loop.time() + delay > deadline:
            return
        log.warning("%s: Kafka at %s refuses connections; waiting (%.0fs left)", what, bootstrap,
                    deadline - loop.time())
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def _all_refuse(addresses: list[str]) -> bool:
    return all([await asyncio.to_thread(_refused, a) for a in addresses])


async def start_client(start: Callable[[], Awaitable[object]], bootstrap: str, security: KafkaSecurity | None,
                       *, what: str, wait_s: float = 0.0,
                       reset: Callable[[], Awaitable[object]] | None = None) -> None:
    """Runs a client's `start()`; when it fails, raises `KafkaStartupError` naming the cause (aiokafka only says
    "Unable to bootstrap" after logging the real reason).

    `wait_s`: how long to wait out a broker that refuses connections (workers pass `startup_wait_s()`; the ops
    tools fail at once). The wait covers the whole start, not only its first connection: a broker that dies while
    the client is starting (it accepted the check, then went away) is waited for too. `reset` undoes a failed
    start so `start()` can run again; without it a failed start is final."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    addresses = [a.strip() for a in bootstrap.split(",") if a.strip()]
    while True:
        if wait_s > 0:
            await wait_for_listener(bootstrap, deadline, what=what)
        try:
            await start()
            return
        except Exception as exc:
            if reset is not None and loop.time() < deadline and addresses and await _all_refuse(addresses):
                log.warning("%s: Kafka at %s went away during the start (%s); starting again", what, bootstrap,
                            type(exc).__name__)
                await reset()
                continue
            sec = resolve(security)
            try:
                reason = await diagnose(bootstrap, sec)
            except Exception as probe_exc:  # the diagnosis must never hide the original failure
                reason = f"(no diagnosis: {type(probe_exc).__name__}: {probe_exc})"
            message = f"{what} could not connect to Kafka at {bootstrap} ({sec.describe()}): {reason or exc}"
            log.error(message)
            raise KafkaStartupError(message) from exc
