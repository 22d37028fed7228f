"""PostgreSQL for Open WebUI: the CloudNativePG operator (a HelmChart) and one Cluster with
pgvector, created at bootstrap by the superuser so that Open WebUI's user needs none.

    postgres_cluster()  # the Cluster resource, for the apps layer to write
"""

from __future__ import annotations

from operations.components import POSTGRES_OPERATOR
from operations.names import NAMESPACE, POSTGRES_CLUSTER
from operations.pins import PINNED_VERSIONS
from operations.rendering import helm_chart

# CloudNativePG recommends equal request and limit for the instance; shared_buffers is a
# quarter of it.
RESOURCES = {
    "postgres-operator": {
        "requests": {"cpu": "50m", "memory": "96Mi"},
        "limits": {"memory": "256Mi"},
    },
    "postgres": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
}
POSTGRES_PARAMETERS = {"shared_buffers": "64MB", "max_connections": "50"}


def postgres_operator() -> dict:
    return helm_chart(
        POSTGRES_OPERATOR.installed_chart, {"resources": RESOURCES["postgres-operator"]}
    )


def postgres_cluster() -> dict:
    """One PostgreSQL instance with pgvector (the image's standard flavour), created at
    bootstrap by the superuser so that Open WebUI's user needs no superuser rights."""
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": POSTGRES_CLUSTER, "namespace": NAMESPACE},
        "spec": {
            "instances": 1,
            "imageName": PINNED_VERSIONS["postgresql image"],
            "enableSuperuserAccess": False,
            "storage": {"size": "5Gi"},
            "resources": RESOURCES["postgres"],
            "postgresql": {"parameters": POSTGRES_PARAMETERS},
            "bootstrap": {
                "initdb": {
                    "database": "openwebui",
                    "owner": "openwebui",
                    "postInitApplicationSQL": ["CREATE EXTENSION IF NOT EXISTS vector;"],
                }
            },
        },
    }
