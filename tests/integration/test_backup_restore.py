"""Backup and restore, for real: files/backup.sh and files/restore.sh (the scripts the backup
CronJob and the restore Job run) against a real PostgreSQL 17 with pgvector, on a Debian 13
rehearsal host. Rows and vectors, and the uploads, come back identical."""

import subprocess
from pathlib import Path

import pytest

from appliance.rehearsal import RehearsalHost

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PG = "PGHOST=127.0.0.1 PGPORT=5432 PGUSER=openwebui PGPASSWORD=app-password PGDATABASE=openwebui"
ENV = f"{PG} WEBUI_DATA=/srv/webui-data BACKUP_DIR=/srv/backups RETENTION_DAYS=7"
SELECT = "SELECT id, content, embedding::text FROM document_chunk ORDER BY id"


@pytest.fixture(scope="module")
def database_host():
    with RehearsalHost.boot(suite="trixie",
                            extra_packages="postgresql-17,postgresql-17-pgvector") as host:
        for script in ("backup.sh", "restore.sh"):
            subprocess.run(["scp", *host.ssh_options(), str(PROJECT_ROOT / "files" / script),
                            f"root@{host.address}:/usr/local/bin/{script}"],
                           check=True, capture_output=True)
        # debootstrap installs the server without making its cluster.
        host.ssh("pg_createcluster 17 main --start >/dev/null && "
                 "until pg_isready -q; do sleep 0.2; done", timeout=120)
        # As CloudNativePG bootstraps it: the application user owns the database, and the
        # superuser created the vector extension in it.
        host.ssh(
            "su postgres -c \"psql -q -c \\\"CREATE ROLE openwebui LOGIN PASSWORD 'app-password'\\\"\" && "
            "su postgres -c 'createdb -O openwebui openwebui' && "
            "su postgres -c 'psql -q -d openwebui -c \"CREATE EXTENSION vector\"'"
        )
        psql(host, "CREATE TABLE document_chunk (id serial PRIMARY KEY, content text, embedding vector(3));"
                   "INSERT INTO document_chunk (content, embedding) VALUES "
                   "('alpha', '[0.1,0.2,0.3]'), ('beta', '[1,-2.5,3e-7]'), ('gamma', NULL);")
        host.ssh("mkdir -p /srv/webui-data/uploads /srv/backups && "
                 "echo 'a private document' > /srv/webui-data/uploads/report.txt && "
                 "head -c 4096 /dev/urandom > /srv/webui-data/webui.db-blob")
        yield host


def psql(host, sql):
    return host.ssh(f"{PG} psql -qtA -c \"{sql}\"").stdout


def data_checksums(host):
    return host.ssh("cd /srv/webui-data && find . -type f -exec sha256sum {} + | sort").stdout


def test_backup_then_restore_gives_back_rows_vectors_and_uploads(database_host):
    rows, files = psql(database_host, SELECT), data_checksums(database_host)
    assert "[1,-2.5,3e-07]" in rows and "report.txt" in files

    archive = database_host.ssh(f"{ENV} backup.sh").stdout.strip()
    assert archive.startswith("/srv/backups/llm-appliance-") and archive.endswith(".tar")
    assert database_host.ssh(f"stat -c %a {archive}").stdout.strip() == "600"

    # Lose everything: rows, the table, the uploads.
    psql(database_host, "DELETE FROM document_chunk WHERE content = 'beta'; "
                        "DROP TABLE document_chunk; CREATE TABLE stray (x int);")
    database_host.ssh("rm -rf /srv/webui-data/* && echo junk > /srv/webui-data/junk")

    database_host.ssh(f"{ENV} restore.sh {archive}")
    assert psql(database_host, SELECT) == rows
    assert data_checksums(database_host) == files
    # The extension stayed the superuser's; the application user restored without it.
    assert psql(database_host, "SELECT extname FROM pg_extension WHERE extname = 'vector'").strip() == "vector"


def test_old_backups_are_removed(database_host):
    database_host.ssh("touch -d '10 days ago' /srv/backups/llm-appliance-20200101-000000.tar "
                      "&& touch -d '2 days ago' /srv/backups/llm-appliance-20200102-000000.tar")
    database_host.ssh(f"{ENV} backup.sh")
    kept = database_host.ssh("ls /srv/backups").stdout.split()
    assert "llm-appliance-20200101-000000.tar" not in kept
    assert "llm-appliance-20200102-000000.tar" in kept
