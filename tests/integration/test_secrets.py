"""Secrets are made on the host, once, and never leave it: proved with the real
files/ensure-secret.sh and the real deploy operation over SSH. k3s cannot be downloaded here:
k3s runs on the stand-in API server (k3s_standins.install_k3s), which the real kubectl talks
to; every command line on the host is sampled while the deploy runs."""

import base64
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from command_lines import command_lines_sampled
from k3s_standins import GUEST_PACKAGES, install_k3s

from appliance.rehearsal import RehearsalHost
from appliance.runner import run_pyinfra

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rehearsal():
    """A rehearsal host with what the stand-in API server needs (python3-yaml)."""
    with RehearsalHost.boot(extra_packages=GUEST_PACKAGES) as host:
        yield host


@pytest.fixture(scope="module")
def standin_k3s(rehearsal):
    install_k3s(rehearsal)
    return rehearsal


def stored(host, namespace: str, name: str) -> dict:
    """A Secret's values as the API server keeps them (data, base64-decoded)."""
    secret = json.loads(
        host.ssh(
            shlex.join(
                [
                    "k3s",
                    "kubectl",
                    "get",
                    "secret",
                    name,
                    "--namespace",
                    namespace,
                    "--output",
                    "json",
                ]
            )
        ).stdout
    )
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


@pytest.fixture(scope="module")
def deploy_file(tmp_path_factory):
    """The apps layer's secret steps alone (the rest needs a running k3s)."""
    path = tmp_path_factory.mktemp("deploy") / "secrets_deploy.py"
    path.write_text(
        "from pyinfra import host\n"
        "from pyinfra.operations import files\n"
        "from operations import apps, names\n"
        "from operations.rendering import PROJECT_ROOT\n"
        "from operations.settings import load\n"
        "settings = load(host.data.dict())\n"
        "files.put(name='Install ensure-secret.sh', src=str(PROJECT_ROOT / 'files/ensure-secret.sh'),"
        " dest=apps.ENSURE_SECRET, mode='755')\n"
        "apps.secret_present(name='Generate secrets', namespace=names.NAMESPACE,"
        " secret=names.WEBUI_SECRETS, keys=names.WEBUI_SECRET_KEYS, settings=settings)\n"
        "apps.secret_present(name='Generate the monitoring password', namespace='monitoring',"
        " secret=names.BASIC_AUTH_SECRET, keys=('username=admin', 'password'),"
        " secret_type='kubernetes.io/basic-auth', settings=settings)\n"
    )
    return path


@pytest.fixture(scope="module")
def two_runs(standin_k3s, inventory, deploy_file):
    path = inventory("secrets.py")
    with command_lines_sampled(standin_k3s, "/root/cmdlines"):
        first = run_pyinfra(path, str(deploy_file))
        stored_after_first = stored(standin_k3s, "llm", "open-webui-secrets")
        second = run_pyinfra(path, str(deploy_file))
    return first, second, stored_after_first, path


def test_generated_once_and_stable(two_runs, standin_k3s):
    first, second, values, _ = two_runs
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.changed == [
        "Install ensure-secret.sh",
        "Generate secrets",
        "Generate the monitoring password",
    ]
    assert second.returncode == 0 and second.changed == []
    assert stored(standin_k3s, "llm", "open-webui-secrets") == values
    assert set(values) == {"secret-key", "admin-password"}
    for value in values.values():
        assert re.fullmatch(r"[A-Za-z0-9]{32}", value)  # ~190 bits, and <= 72 bytes for bcrypt
    assert values["secret-key"] != values["admin-password"]


def test_never_in_pyinfra_output(two_runs):
    first, second, values, _ = two_runs
    for run in (first, second):
        for value in values.values():
            assert value not in run.stdout + run.stderr


def test_never_on_a_command_line(two_runs, standin_k3s):
    _, _, values, _ = two_runs
    cmdlines = standin_k3s.ssh("cat /root/cmdlines").stdout
    # The sampler saw ensure-secret.sh's kubectl calls (the values go on kubectl's standard input).
    assert re.search(r"(^|[ /])kubectl (--namespace \S+ )?(get|create) ", cmdlines, re.M), cmdlines[
        -2000:
    ]
    for value in values.values():
        assert value not in cmdlines


def test_never_in_a_world_readable_file(two_runs, standin_k3s):
    _, _, values, _ = two_runs
    # Search the whole host for the values: only the API server holds them (in memory, while
    # k3s runs), no file.
    pattern = "|".join(values.values())
    found = standin_k3s.ssh(
        f"grep -rlE '{pattern}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "
        "--exclude-dir=run 2>/dev/null || true"
    ).stdout.split()
    assert found == []


def test_never_in_git(two_runs):
    _, _, values, _ = two_runs
    tracked = subprocess.run(
        ["git", "grep", "-lE", "|".join(values.values())],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert tracked.stdout == ""


def test_admin_password_command_shows_it(two_runs):
    from click.testing import CliRunner

    from appliance.cli import main

    _, _, values, path = two_runs
    result = CliRunner().invoke(main, ["admin-password", str(path)])
    assert result.exit_code == 0, result.output
    assert f"password:   {values['admin-password']}" in result.output
    assert "e-mail:     admin@rehearsal.test" in result.output


def test_monitoring_credentials(two_runs, standin_k3s):
    from click.testing import CliRunner

    from appliance.cli import main

    *_, path = two_runs
    credentials = stored(standin_k3s, "monitoring", "netdata-basic-auth")
    assert credentials["username"] == "admin" and re.fullmatch(
        r"[A-Za-z0-9]{32}", credentials["password"]
    )
    result = CliRunner().invoke(main, ["monitor-password", str(path)])
    assert result.exit_code == 0, result.output
    assert f"password: {credentials['password']}" in result.output
    assert "Netdata:  https://monitor.rehearsal.test/" in result.output


# -- Traefik's Secrets from the operator's files (tls_certificate, tls_key) ------------------------


@pytest.fixture(scope="module")
def traefik_secret_runs(standin_k3s, inventory, tmp_path_factory):
    """The k3s layer's step "Put the Secret llm-appliance-tls for Traefik" (operations/k3s.py
    traefik_secret, its put-secret.sh placed as the layer places it), twice, with a certificate
    and key made here for *.rehearsal.test, every command line of the host sampled meanwhile.
    Returns both runs, the key's PEM and the certificate's."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*.rehearsal.test")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("*.rehearsal.test")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    (folder / "site.key").write_text(key_pem)
    (folder / "site.crt").write_text(certificate_pem)
    deploy = folder / "traefik_secret_deploy.py"
    deploy.write_text(
        "from pyinfra import host\n"
        "from pyinfra.operations import files\n"
        "from operations import health, k3s, read_parser, traefik\n"
        "from operations.rendering import PROJECT_ROOT\n"
        "from operations.settings import load\n"
        "settings = load(host.data.dict())\n"
        "files.put(name='Install put-secret.sh', src=str(PROJECT_ROOT / 'files/put-secret.sh'),"
        " dest=k3s.PUT_SECRET, mode='755')\n"
        "present = read_parser.secret_names(health.latest_read(settings), 'kube-system')\n"
        "for secret in traefik.traefik_secrets(settings):\n"
        "    traefik.traefik_secret(name=f'Put the Secret {secret.name}', secret=secret,"
        " present=secret.name in present)\n"
    )
    path = inventory(
        "traefik-secret.py",
        tls_certificate=str(folder / "site.crt"),
        tls_key=str(folder / "site.key"),
    )
    with command_lines_sampled(standin_k3s, "/root/tls-cmdlines"):
        first = run_pyinfra(path, str(deploy))
        second = run_pyinfra(path, str(deploy))
    return first, second, key_pem, certificate_pem


def test_the_tls_secret_holds_the_files_and_is_put_once(traefik_secret_runs, standin_k3s):
    first, second, key_pem, certificate_pem = traefik_secret_runs
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.changed == ["Install put-secret.sh", "Put the Secret llm-appliance-tls"]
    assert second.returncode == 0 and second.changed == []
    assert stored(standin_k3s, "kube-system", "llm-appliance-tls") == {
        "tls.crt": certificate_pem,
        "tls.key": key_pem,
    }


def test_the_tls_key_is_in_no_output_command_line_or_open_file(traefik_secret_runs, standin_k3s):
    first, second, key_pem, _ = traefik_secret_runs
    # A line of the key's base64: in no output, command line or file others may read.
    line = key_pem.splitlines()[2]
    for run in (first, second):
        assert line not in run.stdout + run.stderr
    cmdlines = standin_k3s.ssh("cat /root/tls-cmdlines").stdout
    assert (
        "put-secret.sh kube-system llm-appliance-tls tls /etc/llm-appliance/traefik/tls.crt "
        "/etc/llm-appliance/traefik/tls.key" in cmdlines
    ), cmdlines[-2000:]
    assert line not in cmdlines
    found = standin_k3s.ssh(
        f"grep -rlF '{line}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "
        "--exclude-dir=run 2>/dev/null | xargs -r stat -c '%a %U %n' | sort"
    ).stdout.splitlines()
    # Only the copy the deploy compares against, root's only (the API server keeps its own in
    # memory).
    assert found == ["600 root /etc/llm-appliance/traefik/tls.key"]
    assert standin_k3s.ssh("stat -c '%a' /etc/llm-appliance/traefik").stdout.strip() == "700"
