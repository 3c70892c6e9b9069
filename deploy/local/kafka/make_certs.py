"""Writes a throw-away CA, a broker certificate for 127.0.0.1/localhost and a client certificate (mTLS) as PEM
files, for the secured local broker of deploy/local/kafka.sh (KAFKA_SECURITY=SASL_SSL). Idempotent: an existing
set is kept (the broker and its clients must keep agreeing on the CA).

    python deploy/local/kafka/make_certs.py DIR

DIR/ca.pem               the CA certificate (clients: KAFKA_SSL_CAFILE; broker: ssl.truststore.location)
DIR/broker.pem           the broker's PKCS#8 key + certificate chain (broker: ssl.keystore.location, type PEM)
DIR/client-cert.pem      a client certificate chain signed by the CA (KAFKA_SSL_CERTFILE)
DIR/client-key.pem       its PKCS#8 key (KAFKA_SSL_KEYFILE)

Java reads PEM keystores only with PKCS#8 keys ("BEGIN PRIVATE KEY"); trustme writes the traditional
OpenSSL form, so the keys are re-encoded with `cryptography`. Nothing here needs keytool or JKS.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization

FILES = ("ca.pem", "broker.pem", "client-cert.pem", "client-key.pem")
CLIENT_NAME = "outreach-client"


def pkcs8(key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.chmod(path, 0o600)


def make(target: Path) -> bool:
    """Writes the set into `target` unless it is complete already; True when written."""
    if all((target / name).is_file() for name in FILES):
        return False
    target.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="outreach local test CA")
    broker = ca.issue_cert("127.0.0.1", "localhost", common_name="localhost")
    client = ca.issue_cert(CLIENT_NAME, common_name=CLIENT_NAME)
    (target / "ca.pem").write_bytes(ca.cert_pem.bytes())
    chain = b"".join(blob.bytes() for blob in broker.cert_chain_pems)
    write_private(target / "broker.pem", pkcs8(broker.private_key_pem.bytes()) + chain)
    (target / "client-cert.pem").write_bytes(b"".join(blob.bytes() for blob in client.cert_chain_pems))
    write_private(target / "client-key.pem", pkcs8(client.private_key_pem.bytes()))
    return True


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} DIR")
    target = Path(sys.argv[1])
    print(f"[kafka] {'wrote' if make(target) else 'kept'} the local CA and certificates in {target}")


if __name__ == "__main__":
    main()
