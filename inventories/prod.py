"""Production inventory: one Ubuntu 24.04 server (4 vCPU, 8 GB RAM) becomes the appliance.

Copy this file, put your server's address and names in, then:

    appliance check inventories/prod.py     # validate and preflight; changes nothing
    pyinfra inventories/prod.py deploy.py   # deploy

Every setting and its default is listed in README.md ("Settings").
"""

appliance = [
    (
        "203.0.113.10",  # the server's address or DNS name (documentation range: replace it)
        {
            # How pyinfra logs in: a sudo-capable user with your SSH key.
            "ssh_user": "ubuntu",
            "_sudo": True,
            # Public names; their DNS A/AAAA records must point at the server for ACME.
            "webui_domain": "chat.example.com",
            "monitor_domain": "monitor.example.com",
            "acme_email": "admin@example.com",
            "acme_ca": "production",
            # No port 80 from the internet (an internal network)? Let's Encrypt over DNS-01
            # (acme_dns_provider) or your own certificate (tls_certificate, tls_key): README,
            # "Inside an organisation".
            # Who may reach the Kubernetes API (6443); nobody else can.
            "admin_cidrs": ["198.51.100.0/24"],
            # Models pulled at deploy time (name:tag, as `ollama pull` takes them).
            "ollama_models": ["llama3.2:3b"],
            # Sign-in through your identity provider (oidc) and Open WebUI's own settings kept
            # here (webui_settings, e.g. {"DEFAULT_MODELS": "llama3.2:3b"}): README, "Inside an
            # organisation".
        },
    ),
]
