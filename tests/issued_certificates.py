"""Certificates a test CA issues, for the tests of the operator's own certificate (settings,
Traefik serving it) and of pebble's HTTPS listeners: a fresh CA, a leaf for some names signed
by it, and their PEM bytes:

    ca, leaf, key = issue(("chat.example.com", "monitor.example.com"))
    path.write_bytes(pem(leaf, ca))  # the certificate, then its chain
"""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DAY = datetime.timedelta(days=1)


def issue(
    names: tuple[str, ...],
    *,
    ip_addresses: tuple[str, ...] = (),
    common_name: str | None = None,
    ca_name: str = "Example Corp CA",
    ca_valid: tuple[datetime.datetime, datetime.datetime] | None = None,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.Certificate, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """(CA certificate, leaf, the leaf's key): a new P-256 CA called `ca_name`, valid over
    `ca_valid` (default: from now for a year), and a leaf for the DNS `names` and
    `ip_addresses` (no subjectAltName when there are none), its common name `common_name` or
    the first name ("x" without names), valid from `not_before` to `not_after` (default: from
    now for 90 days), with `key` or a new one."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = (
        ec.generate_private_key(ec.SECP256R1()),
        key or ec.generate_private_key(ec.SECP256R1()),
    )
    ca_start, ca_end = ca_valid or (now, now + 365 * DAY)
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(issuer)
        .issuer_name(issuer)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ca_start)
        .not_valid_after(ca_end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    subject = common_name or (names[0] if names else "x")
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now)
        .not_valid_after(not_after or now + 90 * DAY)
    )
    alternatives: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alternatives += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if alternatives:
        builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
    return ca, builder.sign(ca_key, hashes.SHA256()), key


def pem(*certificates: x509.Certificate) -> bytes:
    """The certificates in PEM, one after the other (a leaf, then its chain)."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The key in unencrypted PKCS#8 PEM, as servers read it."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
