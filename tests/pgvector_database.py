"""Open WebUI's database as the backup tests hold it: PostgreSQL 17 with pgvector on a Debian 13
rehearsal host (``RehearsalHost.boot(suite="trixie", extra_packages=PACKAGES)``), made as
CloudNativePG bootstraps it, with rows, vectors and uploads to compare after a restore:

    start_database(host); rows = psql(host, SELECT)
"""

from __future__ import annotations

PACKAGES = "postgresql-17,postgresql-17-pgvector"
# A server of the backup and off-site tests: the database, restic, SQLite (a k3s datastore) and
# python3-yaml (k3s_standins.GUEST_PACKAGES); one string, so both share one cached root file system.
SERVER_PACKAGES = f"{PACKAGES},restic,sqlite3,python3-yaml"
PG = "PGHOST=127.0.0.1 PGPORT=5432 PGUSER=openwebui PGPASSWORD=app-password PGDATABASE=openwebui"
SELECT = "SELECT id, content, embedding::text FROM document_chunk ORDER BY id"
WEBUI_DATA = "/srv/webui-data"


def create_database(host) -> None:
    """An empty Open WebUI database: a fresh cluster, the application user owning the database,
    the superuser's vector extension in it (as CloudNativePG bootstraps it)."""
    # debootstrap installs the server without making its cluster.
    host.ssh(
        "pg_createcluster 17 main --start >/dev/null && until pg_isready -q; do sleep 0.2; done",
        timeout=120,
    )
    host.ssh(
        'su postgres -c "psql -q -c \\"CREATE ROLE openwebui LOGIN PASSWORD \'app-password\'\\"" && '
        "su postgres -c 'createdb -O openwebui openwebui' && "
        "su postgres -c 'psql -q -d openwebui -c \"CREATE EXTENSION vector\"'"
    )


def start_database(host) -> None:
    """A database with rows and vectors, and a data folder with uploads."""
    create_database(host)
    psql(
        host,
        "CREATE TABLE document_chunk (id serial PRIMARY KEY, content text, embedding vector(3));"
        "INSERT INTO document_chunk (content, embedding) VALUES "
        "('alpha', '[0.1,0.2,0.3]'), ('beta', '[1,-2.5,3e-7]'), ('gamma', NULL);",
    )
    host.ssh(
        f"mkdir -p {WEBUI_DATA}/uploads /srv/backups && "
        f"echo 'a private document' > {WEBUI_DATA}/uploads/report.txt && "
        f"head -c 4096 /dev/urandom > {WEBUI_DATA}/webui.db-blob"
    )


def psql(host, sql):
    return host.ssh(f'{PG} psql -qtA -c "{sql}"').stdout


def data_checksums(host, folder: str = WEBUI_DATA):
    """sha256sum of every file under Open WebUI's data folder, sorted by path."""
    return host.ssh(f"cd {folder} && find . -type f -exec sha256sum {{}} + | sort").stdout
