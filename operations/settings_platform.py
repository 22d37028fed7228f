"""The settings table's rows for the platform, in the README's order: the layers, the domains
and their certificates (ACME or your own), the networks admitted to the admin ports, and k3s
(version, air-gap folder, TLS names, networks). operations/settings_table.py assembles them.
"""

from __future__ import annotations

from operations.local_files import airgap_directory, local_file
from operations.names import LAYERS
from operations.parsers import (
    cidr,
    cidrs,
    domain,
    email,
    host_names,
    k3s_version,
    layer_names,
    lego_dns_provider,
    one_of,
)
from operations.pins import PINNED_VERSIONS
from operations.setting import REQUIRED, Setting

# k3s keeps the networks it started with (the preflight refuses a change under a running k3s).
K3S_NETWORK = "first install: k3s keeps its first networks (a later change is refused)"
PLATFORM_SETTINGS = (
    Setting(
        "layers",
        LAYERS,
        "list",
        "Layers to deploy, in order: " + ", ".join(LAYERS) + ".",
        layer_names,
    ),
    Setting(
        "webui_domain",
        REQUIRED,
        "domain",
        "Public name of Open WebUI (DNS must point here).",
        domain("chat.example.com"),
    ),
    Setting(
        "monitor_domain",
        REQUIRED,
        "domain",
        "Public name of the Netdata monitoring UI.",
        domain("monitor.example.com"),
    ),
    Setting(
        "acme_ca",
        "production",
        "choice",
        "Let's Encrypt CA: production, staging, or none (no ACME: Traefik's default "
        "certificate, or tls_certificate; none by default when tls_certificate is set).",
        one_of("production", "staging", "none"),
        takes_effect="new certificates: Traefik serves the ones in acme.json until renewal",
    ),
    Setting(
        "acme_email",
        None,
        "e-mail",
        "Contact for Let's Encrypt; required unless acme_ca is none.",
        email,
        takes_effect="first certificate: Traefik keeps its ACME account in acme.json",
    ),
    # Certificates from anywhere (README "Inside an organisation"; checked in
    # operations/certificates.py).
    Setting(
        "acme_dns_provider",
        None,
        "lego DNS provider",
        "Let's Encrypt's DNS-01 challenge instead of HTTP-01, through this DNS service (a "
        "lego provider name such as cloudflare or route53), for a server the internet cannot "
        "reach on port 80.",
        lego_dns_provider,
    ),
    Setting(
        "acme_dns_credentials_file",
        None,
        "path on this machine",
        "The DNS provider's credentials as KEY=VALUE lines (CLOUDFLARE_DNS_API_TOKEN=TOKEN), "
        "given to Traefik from a Secret.",
        local_file,
    ),
    Setting(
        "tls_certificate",
        None,
        "path on this machine",
        "Your own certificate (PEM, chain after it) for webui_domain and monitor_domain, "
        "served instead of Let's Encrypt's (ACME off); with tls_key.",
        local_file,
        takes_effect="every deploy; renew it before it expires and deploy again",
    ),
    Setting(
        "tls_key",
        None,
        "path on this machine",
        "The private key (PEM, unencrypted) of tls_certificate.",
        local_file,
    ),
    Setting(
        "admin_cidrs",
        (),
        "list of CIDRs",
        "Networks allowed to reach the Kubernetes API (6443), in CIDR notation; one address as "
        "/32 or /128. A network with host bits set (192.0.2.7/24) is refused, with both "
        "fixes; empty: nobody outside.",
        cidrs,
    ),
    Setting(
        "k3s_version", PINNED_VERSIONS["k3s"], "k3s version", "k3s release to install.", k3s_version
    ),
    Setting(
        "k3s_airgap_dir",
        None,
        "local folder",
        "Air-gap: folder with install.sh, k3s, sha256sum-ARCH.txt and the images tarball.",
        airgap_directory,
    ),
    Setting(
        "k3s_tls_sans",
        (),
        "list of names/IPs",
        "Extra names in the API server certificate (the host's address is always there).",
        host_names,
    ),
    Setting(
        "k3s_cluster_cidr",
        "10.42.0.0/16",
        "CIDR",
        "k3s pod network (admitted by the firewall).",
        cidr,
        takes_effect=K3S_NETWORK,
    ),
    Setting(
        "k3s_service_cidr",
        "10.43.0.0/16",
        "CIDR",
        "k3s service network (admitted by the firewall).",
        cidr,
        takes_effect=K3S_NETWORK,
    ),
)
