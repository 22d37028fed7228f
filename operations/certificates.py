"""Certificates from anywhere: the checks on the operator's own certificate files
(`tls_certificate`, `tls_key`) and on the DNS-01 settings (`acme_dns_provider`,
`acme_dns_credentials_file`), made on the operator's machine before anything changes.

Each check gives one line per problem, naming the setting, its value and the fix (never a
secret value: a credentials file's lines are named by number)::

    certificate_problems("/tmp/cert.pem", ["chat.example.com"], now)
    # ["tls_certificate = '/tmp/cert.pem' expired on 2026-01-01 00:00 UTC; ..."] or []
"""

from __future__ import annotations

import datetime
import difflib
import re
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

# Every name lego's NewDNSChallengeProviderByName accepts (go-acme/lego v5.2.2
# providers/dns/zz_gen_dns_providers.go, its `case` labels): the lego Traefik v3.7 builds its
# DNS-01 challenge with (traefik v3.7.9 go.mod `github.com/go-acme/lego/v5 v5.2.2`;
# pkg/provider/acme/provider.go calls dns.NewDNSChallengeProviderByName with
# dnsChallenge.provider as written: no case folding). An unknown name fails there with
# "unrecognized DNS provider" only when Traefik starts.
LEGO_DNS_PROVIDERS = frozenset(
    """
abion acme-dns acmedns active24 alidns aliesa allinkl alwaysdata anexia artfiles arvancloud
auroradns autodns axelname azion azuredns baiducloud beget binarylane bindman bluecat
bluecatv2 bookmyname bunny checkdomain civo clouddns cloudflare cloudns cloudru com35
connbyte conoha conohav3 constellix corenetworks cpanel curanet czechia dandomain ddnss
derak desec designate digitalocean dinahosting directadmin dns51 dnscale dnsexit dnshomede
dnsimple dnsla dnsmadeeasy dnsservices dnsupdate dode domainnameshop domeneshop dreamhost
duckdns dyn dynadot dyndnsfree dynu easydns edgecenter edgedns edgeone efficientip epik
eurodns euserv excedo exec exoscale f5xc fastdns fornex freemyip gandi gandiv5 gcloud gcore
gehirn gigahostno glesys gname godaddy gravity hetzner hostingde hostinger hostingnl
hosttech hostup httpnet httpreq huaweicloud hurricane hyperone ibmcloud iijdpf infoblox
infomaniak internetbs inwx ionos ionoscloud ipv64 ispconfig ispconfigddns jdcloud joker
katapult keyhelp leaseweb liara lightsail limacity linode linodev4 liquidweb loopia luadns
mailinabox manageengine manual metaname metaregistrar mijnhost mittwald myaddr mydnsjp
mythicbeasts namecheap namedotcom namesilo namesurfer nearlyfreespeech nederhost neodigit
netcup netlify netnod ngenix nicmanager nicru nifcloud njalla nodion ns1 octenium omglol
onecloudru onlinenet opusdns oraclecloud otc ovh pdns plesk pointdns porkbun poweradmin
rackspace rage4 rainyun rcodezero regfish regru rfc2136 rimuhosting route53 safedns
sakuracloud scaleway scannet selectel selectelv2 selfhostde servercow shellrent simply
sonic spaceship stackpath syse technitium tele3 tencentcloud timewebcloud todaynic transip
ucloud ultradns uniteddomains variomedia veesp vegadns vercel versio vinyldns virtualname
vkcloud volcengine vscale vultr wannafind webnames webnamesca webnamesru websupport wedos
westcn xinnet yandex yandex360 yandexcloud zilore zoneedit zoneee zonomi
""".split()
)
# lego's `manual` provider prints the TXT record and waits for Enter on its standard input
# (lego v5.2.2 providers/dns/manual/manual.go): in Traefik's pod nobody is there to press it.
UNATTENDED_REFUSED = {"manual": "waits for a person to press Enter at Traefik's terminal"}
# A line of an env file as `kubectl create secret generic --from-env-file` reads it (kubectl
# v0.36.3, k8s 1.36, pkg/cmd/util/env_file.go processEnvFileLine: leading space trimmed, blank
# and `#` lines skipped, and a NAME without `=` takes its value from kubectl's own environment,
# on the server: refused here). Names as a shell variable's: lego reads them with os.Getenv.
ENV_LINE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def dns_provider_problem(name: str) -> str | None:
    """Why ``name`` is not a lego DNS provider Traefik can use, or None:
    ``dns_provider_problem("cloudfare")`` gives "is not a DNS provider of lego v5.2.2 ...;
    did you mean 'cloudflare'? ..."."""
    if name in UNATTENDED_REFUSED:
        return (
            f"{UNATTENDED_REFUSED[name]}; name your DNS service's provider, e.g. cloudflare "
            "or route53 (https://go-acme.github.io/lego/dns/)"
        )
    if name in LEGO_DNS_PROVIDERS:
        return None
    close = difflib.get_close_matches(name, sorted(LEGO_DNS_PROVIDERS), n=1, cutoff=0.7)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        "is not a DNS provider of lego v5.2.2 (the ACME library of Traefik v3.7); "
        f"{hint}use a name from https://go-acme.github.io/lego/dns/, e.g. cloudflare or route53"
    )


def credentials_problems(path: str) -> list[str]:
    """The lines of an acme_dns_credentials_file that are not KEY=VALUE, each named by its
    number only (the file holds secrets): blank lines and lines starting with # are allowed,
    as kubectl's --from-env-file reads them."""
    problems = []
    for number, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
        text = line.lstrip()
        if text and not text.startswith("#") and not ENV_LINE_RE.match(text):
            problems.append(
                f"acme_dns_credentials_file = {path!r}: line {number} is not KEY=VALUE; write "
                "one variable of the provider per line, e.g. CLOUDFLARE_DNS_API_TOKEN=TOKEN "
                "(no quotes, no export)"
            )
    return problems


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def covers(pattern: str, name: str) -> bool:
    """Whether a certificate's DNS name covers ``name``: equal, or a wildcard `*.` over exactly
    one label (RFC 6125 6.4.3, as browsers and Go's crypto/x509 VerifyHostname match)."""
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return "." in name and name.split(".", 1)[1] == pattern[2:]
    return pattern == name


def _leaf(path: str) -> x509.Certificate | None:
    """The first certificate of a PEM file (the server's; its chain follows), or None."""
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())[0]
    except ValueError:
        return None


def certificate_problems(path: str, names: list[str], now: datetime.datetime) -> list[str]:
    """What keeps Traefik from serving the PEM certificate at ``path`` (its chain may follow
    it) for every one of ``names`` at ``now`` (timezone-aware): unreadable, not yet valid,
    expired, a name it does not cover. One line each, naming the setting, value and fix."""
    leaf = _leaf(path)
    if leaf is None:
        return [
            f"tls_certificate = {path!r} holds no PEM certificate; give the certificate "
            "file (-----BEGIN CERTIFICATE-----, the server's first, then its chain)"
        ]
    problems = []
    if leaf.not_valid_before_utc > now:
        problems.append(
            f"tls_certificate = {path!r} is not valid before "
            f"{_when(leaf.not_valid_before_utc)}; check this machine's clock, or "
            "give a certificate valid now"
        )
    if leaf.not_valid_after_utc <= now:
        problems.append(
            f"tls_certificate = {path!r} expired on {_when(leaf.not_valid_after_utc)}; "
            "give a renewed certificate (and its key)"
        )
    try:
        dns_names = leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns_names = []
    uncovered = [name for name in names if not any(covers(pattern, name) for pattern in dns_names)]
    if uncovered:
        problems.append(
            f"tls_certificate = {path!r} does not cover {', '.join(uncovered)} (its names: "
            f"{', '.join(dns_names) or 'none'}); give a certificate whose subjectAltName holds "
            "webui_domain and monitor_domain, or a wildcard over both"
        )
    return problems


def key_problems(certificate_path: str, key_path: str) -> list[str]:
    """What is wrong with ``key_path`` as the private key of the certificate at
    ``certificate_path``: not a PEM private key, encrypted, or another key than the
    certificate's. Nothing when the certificate itself cannot be read (certificate_problems
    says so)."""
    leaf = _leaf(certificate_path)
    if leaf is None:
        return []
    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except TypeError:
        return [
            f"tls_key = {key_path!r} is encrypted; give it decrypted "
            "(openssl pkey -in KEY -out KEY.plain), kept private"
        ]
    except (ValueError, UnsupportedAlgorithm):
        return [
            f"tls_key = {key_path!r} holds no PEM private key; give the certificate's "
            "private key (-----BEGIN PRIVATE KEY-----)"
        ]
    public = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*public) != leaf.public_key().public_bytes(*public):
        return [
            f"tls_key = {key_path!r} is not the key of tls_certificate = "
            f"{certificate_path!r}; give the private key the certificate was issued for"
        ]
    return []
