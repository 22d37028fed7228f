"""Names the layers and components share: host paths, namespaces, Secrets and labels.

One place, importing nothing of the project, so that every module (settings and facts,
components, layers, the CLI and the shipped suite) can use them without an import circle.

    from operations.names import NAMESPACE, WEBUI_SECRETS
"""

# The appliance's layers, in the order they run (the `layers` setting names some of them).
LAYERS = ("host", "k3s", "apps")

# -- the host layer ----------------------------------------------------------------------------
# Its kernel parameters, written on its first run: where it is, the host layer has run (its
# first-install mark, and the k3s layer's prerequisite in the preflight).
HOST_SYSCTL_FILE = "/etc/sysctl.d/90-llm-appliance.conf"

# -- k3s on the host ---------------------------------------------------------------------------
K3S_BINARY = "/usr/local/bin/k3s"
MANIFESTS_DIR = "/var/lib/rancher/k3s/server/manifests"
# The appliance's manifests there are PREFIX + NAME + ".yaml"; k3s's deploy controller applies each
# through the Addon named after the file up to its first dot (k3s pkg/deploy/controller.go
# basename), so PREFIX + NAME is also that Addon's name in kube-system.
MANIFEST_PREFIX = "llm-appliance-"
# Scripts of the appliance's own on the host (ensure-secret.sh, the pinned k3s install script).
SCRIPTS_DIR = "/usr/local/lib/llm-appliance"
# Makes or replaces a Secret from files on the host (files/put-secret.sh).
PUT_SECRET = f"{SCRIPTS_DIR}/put-secret.sh"
# Traefik's own Secrets (operations/traefik.py), in its namespace: tls_certificate and tls_key as
# a TLS Secret, and acme_dns_credentials_file as an Opaque one given to Traefik as environment
# variables. Made by files/put-secret.sh from copies in TRAEFIK_SECRETS_DIR (root's only).
TLS_SECRET = "llm-appliance-tls"
ACME_DNS_SECRET = "llm-appliance-acme-dns"
TRAEFIK_SECRETS_DIR = "/etc/llm-appliance/traefik"
# Inventory group of the hosts that join as k3s agents; every other host is a server.
AGENT_GROUP = "k3s_agents"
# A node label on the first server, for pods that need files the deploy put there.
FIRST_SERVER_LABEL = "llm-appliance.io/first-server"

# -- the apps: PostgreSQL, Ollama, Open WebUI ---------------------------------------------------
NAMESPACE = "llm"
OPERATOR_NAMESPACE = "cnpg-system"
POSTGRES_CLUSTER = "postgres"
# CloudNativePG makes this Secret (user, password, uri...) for the application database.
POSTGRES_APP_SECRET = f"{POSTGRES_CLUSTER}-app"
WEBUI_SECRETS = "open-webui-secrets"
WEBUI_SECRET_KEYS = ("secret-key", "admin-password")
MODEL_FILES_DIR = "/var/lib/llm-appliance/models"
MODEL_PULLER_LABEL = "ollama-model-puller"
# The manifest of Ollama's model Job (operations/ollama.py model_puller_job).
MODEL_PULLER_MANIFEST = "ollama-models"

# -- NVIDIA GPUs ------------------------------------------------------------------------------
# NVIDIA's device plugin, for Ollama on a GPU node (operations/gpu.py).
DEVICE_PLUGIN_NAMESPACE = "nvidia-device-plugin"

# -- monitoring -------------------------------------------------------------------------------
MONITORING_NAMESPACE = "monitoring"
BASIC_AUTH_SECRET = "netdata-basic-auth"
BASIC_AUTH_USER = "admin"
# The alert routes' secrets (alert_secrets_file), mounted into the Netdata parent.
ALERT_SECRET = "netdata-alert-secrets"

# -- backups ----------------------------------------------------------------------------------
BACKUP_DIR = "/var/backups/llm-appliance"
BACKUP_CRONJOB = "llm-appliance-backup"
BACKUP_LABEL = "llm-appliance-backup"
# Off-site copies (operations/offsite.py, files/offsite.sh): the systemd unit that makes them
# (their marker files are operations/markers.py's).
OFFSITE_UNIT = "llm-appliance-offsite"
OFFSITE_CHECK_UNIT = f"{OFFSITE_UNIT}-check"  # its weekly `restic check`
