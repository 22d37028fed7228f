"""Certificates from anywhere, offline: the operator's own certificate files and the DNS-01
settings refused before anything changes (one line naming setting, value and fix), and what
they make of Traefik's values, arguments and Secrets (operations/certificates.py, k3s.py)."""

import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from issued_certificates import issue, key_pem, pem
from operations import k3s, traefik
from operations.settings import SettingsError, load

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
BASE = {
    "webui_domain": "chat.example.com",
    "monitor_domain": "monitor.example.com",
    "webui_admin_email": "admin@example.com",
}


def write_pair(
    folder,
    name="site",
    names=("chat.example.com", "monitor.example.com"),
    not_before=NOW - DAY,
    not_after=NOW + 90 * DAY,
    key=None,
):
    """A certificate signed by a test CA for ``names`` and its key, as PEM files; returns
    their paths (the certificate followed by the CA's, as a chain)."""
    ca, leaf, key = issue(
        names,
        ca_valid=(NOW - DAY, NOW + 365 * DAY),
        not_before=not_before,
        not_after=not_after,
        key=key,
    )
    certificate, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    certificate.write_bytes(pem(leaf, ca))
    key_file.write_bytes(key_pem(key))
    return str(certificate), str(key_file)


def problems(**data) -> list[str]:
    with pytest.raises(SettingsError) as error:
        load({**BASE, **data})
    return error.value.problems


def test_a_good_pair_turns_acme_off(tmp_path):
    certificate, key = write_pair(tmp_path)
    settings = load({**BASE, "tls_certificate": certificate, "tls_key": key})
    assert (settings.acme_ca, settings.tls_certificate, settings.tls_key) == (
        "none",
        certificate,
        key,
    )
    # acme_email is not asked for: no ACME account.
    assert settings.acme_email is None
    # A wildcard over both names does as well.
    wildcard, wildcard_key = write_pair(tmp_path, "wild", names=("*.example.com",))
    assert load({**BASE, "tls_certificate": wildcard, "tls_key": wildcard_key}).acme_ca == "none"


def test_each_bad_certificate_is_refused_naming_setting_value_and_fix(tmp_path):
    expired, expired_key = write_pair(
        tmp_path,
        "expired",
        not_before=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),
        not_after=datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
    )
    assert problems(tls_certificate=expired, tls_key=expired_key) == [
        f"tls_certificate = '{expired}' expired on 2026-01-02 03:04 UTC; give a renewed "
        "certificate (and its key)"
    ]
    later, later_key = write_pair(
        tmp_path,
        "later",
        not_before=datetime.datetime(2127, 5, 6, 7, 8, tzinfo=datetime.timezone.utc),
        not_after=datetime.datetime(2128, 1, 1, tzinfo=datetime.timezone.utc),
    )
    assert problems(tls_certificate=later, tls_key=later_key) == [
        f"tls_certificate = '{later}' is not valid before 2127-05-06 07:08 UTC; check this "
        "machine's clock, or give a certificate valid now"
    ]
    narrow, narrow_key = write_pair(
        tmp_path, "narrow", names=("chat.example.com", "*.other.example.com")
    )
    assert problems(tls_certificate=narrow, tls_key=narrow_key) == [
        f"tls_certificate = '{narrow}' does not cover monitor.example.com (its names: "
        "chat.example.com, *.other.example.com); give a certificate whose subjectAltName holds "
        "webui_domain and monitor_domain, or a wildcard over both"
    ]
    # A wildcard covers one label only.
    deep, deep_key = write_pair(tmp_path, "deep", names=("*.com",))
    assert (
        "does not cover chat.example.com, monitor.example.com (its names: *.com)"
        in problems(tls_certificate=deep, tls_key=deep_key)[0]
    )
    certificate, key = write_pair(tmp_path)
    _, other_key = write_pair(tmp_path, "other")
    assert problems(tls_certificate=certificate, tls_key=other_key) == [
        f"tls_key = '{other_key}' is not the key of tls_certificate = '{certificate}'; give the "
        "private key the certificate was issued for"
    ]
    assert problems(tls_certificate=certificate) == [
        "tls_key: missing while tls_certificate is set; give the file of the certificate's "
        "private key (PEM)"
    ]
    assert problems(tls_key=key, acme_ca="none") == [
        "tls_certificate: missing while tls_key is set; give the certificate file (PEM) of that key"
    ]
    assert problems(tls_certificate=key, tls_key=key) == [
        f"tls_certificate = '{key}' holds no PEM certificate; give the certificate file "
        "(-----BEGIN CERTIFICATE-----, the server's first, then its chain)"
    ]
    assert problems(tls_certificate=certificate, tls_key=certificate) == [
        f"tls_key = '{certificate}' holds no PEM private key; give the certificate's private "
        "key (-----BEGIN PRIVATE KEY-----)"
    ]
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    assert problems(tls_certificate=certificate, tls_key=str(encrypted)) == [
        f"tls_key = '{encrypted}' is encrypted; give it decrypted (openssl pkey -in KEY -out "
        "KEY.plain), kept private"
    ]
    assert problems(tls_certificate=str(tmp_path / "nowhere.crt"), tls_key=key) == [
        f"tls_certificate = '{tmp_path / 'nowhere.crt'}' names '{tmp_path / 'nowhere.crt'}', "
        "which is not a file on this machine"
    ]


def test_a_certificate_with_acme_named_is_refused(tmp_path):
    certificate, key = write_pair(tmp_path)
    assert problems(
        tls_certificate=certificate, tls_key=key, acme_ca="production", acme_email="a@example.com"
    ) == [
        "acme_ca = 'production' while tls_certificate is set; the certificate file replaces "
        "Let's Encrypt: leave acme_ca out (or none), or tls_certificate"
    ]
    assert problems(tls_certificate=certificate, tls_key=key, acme_dns_provider="cloudflare") == [
        "acme_dns_provider = 'cloudflare' while tls_certificate is set; the certificate file "
        "replaces Let's Encrypt: leave one of them out"
    ]
    assert (
        load({**BASE, "tls_certificate": certificate, "tls_key": key, "acme_ca": "none"}).acme_ca
        == "none"
    )


ACME = {"acme_email": "admin@example.com"}


def test_any_lego_provider_is_accepted_and_others_refused_with_the_closest(tmp_path):
    for name in ("cloudflare", "route53", "rfc2136", "acme-dns", "exec", "Route53"):
        assert load({**BASE, **ACME, "acme_dns_provider": name}).acme_dns_provider == name.lower()
    assert problems(**ACME, acme_dns_provider="cloudfare") == [
        "acme_dns_provider = 'cloudfare' is not a DNS provider of lego v5.2.2 (the ACME library "
        "of Traefik v3.7); did you mean 'cloudflare'? use a name from "
        "https://go-acme.github.io/lego/dns/, e.g. cloudflare or route53"
    ]
    assert problems(**ACME, acme_dns_provider="manual") == [
        "acme_dns_provider = 'manual' waits for a person to press Enter at Traefik's terminal; "
        "name your DNS service's provider, e.g. cloudflare or route53 "
        "(https://go-acme.github.io/lego/dns/)"
    ]
    assert problems(acme_ca="none", acme_dns_provider="cloudflare") == [
        "acme_dns_provider = 'cloudflare' while acme_ca = 'none'; set acme_ca to production or "
        "staging (and acme_email), or leave acme_dns_provider out"
    ]


def test_dns_credentials_are_key_value_lines_named_by_number_only(tmp_path):
    good = tmp_path / "good.env"
    good.write_text("# Cloudflare\n\nCLOUDFLARE_DNS_API_TOKEN=abc=def\n  AWS_REGION=eu-west-1\n")
    settings = load(
        {**BASE, **ACME, "acme_dns_provider": "cloudflare", "acme_dns_credentials_file": str(good)}
    )
    assert settings.acme_dns_credentials_file == str(good)
    bad = tmp_path / "bad.env"
    bad.write_text(
        "CLOUDFLARE_DNS_API_TOKEN=fine\nexport AWS_SECRET_ACCESS_KEY=hidden-value\n"
        "AWS_ACCESS_KEY_ID\n"
    )
    found = problems(**ACME, acme_dns_provider="route53", acme_dns_credentials_file=str(bad))
    assert found == [
        f"acme_dns_credentials_file = '{bad}': line {number} is not KEY=VALUE; write one "
        "variable of the provider per line, e.g. CLOUDFLARE_DNS_API_TOKEN=TOKEN (no quotes, no "
        "export)"
        for number in (2, 3)
    ]
    assert "hidden-value" not in "\n".join(found)
    assert problems(**ACME, acme_dns_credentials_file=str(good)) == [
        "acme_dns_credentials_file is set without acme_dns_provider; name the DNS provider "
        "those credentials are for, e.g. cloudflare"
    ]


# -- what they make of Traefik --------------------------------------------------------------------


def test_own_certificate_is_the_default_tls_stores_without_acme(tmp_path):
    certificate, key = write_pair(tmp_path)
    settings = load({**BASE, "tls_certificate": certificate, "tls_key": key})
    values = traefik.traefik_values(settings)
    assert values["tlsStore"] == {
        "default": {"defaultCertificate": {"secretName": "llm-appliance-tls"}}
    }
    assert values["ports"]["websecure"]["http"]["tls"] == {"enabled": True}
    assert "certificatesResolvers" not in values and "persistence" not in values
    assert traefik.traefik_arguments(settings) == [
        "--entryPoints.web.http.redirections.entryPoint.to=:443",
        "--entryPoints.web.http.redirections.entryPoint.scheme=https",
        "--entryPoints.web.http.redirections.entryPoint.permanent=true",
        "--entryPoints.websecure.http.tls=true",
    ]
    assert traefik.traefik_secrets(settings) == [
        traefik.TraefikSecret(
            "llm-appliance-tls",
            "tls",
            (
                ("/etc/llm-appliance/traefik/tls.crt", certificate),
                ("/etc/llm-appliance/traefik/tls.key", key),
            ),
        )
    ]
    # The default has no Secret and no tlsStore.
    assert traefik.traefik_secrets(load({**BASE, **ACME})) == []
    assert "tlsStore" not in traefik.traefik_values(load({**BASE, **ACME}))


def test_dns01_names_the_provider_and_takes_credentials_from_a_secret(tmp_path):
    credentials = tmp_path / "cloudflare.env"
    credentials.write_text("CLOUDFLARE_DNS_API_TOKEN=token-value\n")
    settings = load(
        {
            **BASE,
            **ACME,
            "acme_dns_provider": "cloudflare",
            "acme_dns_credentials_file": str(credentials),
        }
    )
    values = traefik.traefik_values(settings)
    assert values["certificatesResolvers"]["letsencrypt"]["acme"]["dnsChallenge"] == {
        "provider": "cloudflare"
    }
    assert "httpChallenge" not in values["certificatesResolvers"]["letsencrypt"]["acme"]
    assert values["envFrom"] == [{"secretRef": {"name": "llm-appliance-acme-dns"}}]
    arguments = traefik.traefik_arguments(settings)
    assert "--certificatesresolvers.letsencrypt.acme.dnsChallenge.provider=cloudflare" in arguments
    assert not [argument for argument in arguments if "httpChallenge" in argument]
    # The credentials are in no value, argument or manifest.
    rendered = "\n".join(f.content for f in k3s.k3s_files(settings, "203.0.113.10", "server"))
    assert "token-value" not in rendered and "token-value" not in " ".join(arguments)
    assert traefik.traefik_secrets(settings) == [
        traefik.TraefikSecret(
            "llm-appliance-acme-dns",
            "env",
            (("/etc/llm-appliance/traefik/acme-dns.env", str(credentials)),),
        )
    ]
    # Without a credentials file (a provider that finds its own, e.g. an instance role): no env.
    assert "envFrom" not in traefik.traefik_values(
        load({**BASE, **ACME, "acme_dns_provider": "route53"})
    )
