"""Reads the peer certificate (DER) into CertInfo: names, issuer, expiry, days left."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from audits.domain.result import CertInfo


def _common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string() or None


def cert_info(der: bytes | None, *, now: datetime, valid: bool, error: str | None = None) -> CertInfo:
    """Describe a certificate; `valid` and `error` come from the TLS handshake's verification."""
    if der is None:
        return CertInfo(valid=False, error=error or "no certificate presented")
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return CertInfo(valid=False, error="unreadable certificate")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        names += [str(n) for n in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    not_after = cert.not_valid_after_utc
    days_left = (not_after - now).days
    if now > not_after:
        valid, error = False, error or "certificate has expired"
    return CertInfo(
        valid=valid,
        error=error,
        subject=_common_name(cert.subject),
        issuer=_common_name(cert.issuer),
        not_after=not_after,
        days_left=max(days_left, 0),
        names=names[:20],
    )
