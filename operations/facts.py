"""Custom pyinfra facts of k3s and the cluster, read on a host: the installed k3s binary's
version, the networks and join token a server was given, a Kubernetes Secret's value, and the
newest backup archive the backup CronJob left.

The host's own system facts are in operations/host_facts.py, Ollama's in
operations/ollama_facts.py, the NVIDIA GPU's in operations/gpu_facts.py; operations/fact_batch.py
reads several of them in one round trip (``read_fact``).
"""

from __future__ import annotations

from pyinfra.api import FactBase


class K3sVersion(FactBase):
    """
    The version of the installed k3s binary, None without one.

    .. code:: python

        host.get_fact(K3sVersion, path="/usr/local/bin/k3s")  # "v1.36.4+k3s1"
    """

    def command(self, path):
        return f"if [ -x {path} ]; then {path} --version; fi"

    def process(self, output):
        words = output[0].split() if output else []
        return words[2] if len(words) > 2 and words[:2] == ["k3s", "version"] else None


class K3sNetworks(FactBase):
    """
    The pod and service networks a k3s server was configured with (its config.yaml); empty
    before k3s, or on an agent.

    .. code:: python

        host.get_fact(K3sNetworks)  # {"cluster-cidr": "10.42.0.0/16", "service-cidr": "10.43.0.0/16"}
    """

    default = dict

    def command(self, path="/etc/rancher/k3s/config.yaml"):
        return f"if [ -f {path} ]; then grep -E '^(cluster|service)-cidr:' {path}; fi; true"

    def process(self, output):
        return dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in output)
            if value.strip()
        )


class K3sJoinToken(FactBase):
    """
    The token with which nodes join a k3s server, hidden from pyinfra's output (its repr is
    masked; ``.unmask()`` gives it). None before the server has made one.

    .. code:: python

        host.get_fact(K3sJoinToken, path="/var/lib/rancher/k3s/server/token").unmask()
    """

    def command(self, path):
        return f"if [ -s {path} ]; then cat {path}; fi"

    def process(self, output):
        from pyinfra.api.hiddenvalue import HiddenValue

        token = "".join(output).strip()
        return HiddenValue(token) if token else None


class KubernetesSecretValue(FactBase):
    """
    One value of a Kubernetes Secret, decoded. For `appliance admin-password`, which exists to
    show it to the operator; the deploy itself never reads a secret value.

    .. code:: python

        host.get_fact(KubernetesSecretValue, namespace="llm", secret="open-webui-secrets",
                      key="admin-password")
    """

    def command(self, namespace, secret, key):
        return (
            f"/usr/local/bin/k3s kubectl --namespace {namespace} get secret {secret} "
            f"--output 'jsonpath={{.data.{key}}}' | base64 -d"
        )

    def process(self, output):
        return "\n".join(output).strip() or None


class LatestBackup(FactBase):
    """
    The newest backup archive in a folder, None without one.

    .. code:: python

        host.get_fact(LatestBackup, folder="/var/backups/llm-appliance")
    """

    def command(self, folder):
        return f"ls -1t {folder}/llm-appliance-*.tar 2>/dev/null | head -n 1; true"

    def process(self, output):
        return output[0].strip() if output and output[0].strip() else None
