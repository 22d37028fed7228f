#!/bin/sh
# Restore an archive made by backup.sh: the database's objects are replaced by the archive's,
# and the data folder's content by its copy. The `vector` extension stays as it is (it belongs
# to the superuser, who made it at bootstrap; the application user may not drop it).
# Needs PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE and WEBUI_DATA. Installed by llm-appliance.
#
#   restore.sh ARCHIVE
set -eu
archive=$1
# Open WebUI cannot start without it: refuse before anything changes, rather than leave a
# database that makes Open WebUI exit at every start.
if [ "$(psql -XAtc "SELECT count(*) FROM pg_extension WHERE extname = 'vector'")" != 1 ]; then
    echo "restore.sh: the database $PGDATABASE has no \`vector\` extension, which Open WebUI" \
        "needs; a superuser must create it first (CREATE EXTENSION vector;), as the" \
        "appliance's Cluster does at bootstrap. Nothing was changed." >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xf "$archive" database.dump webui-data.tar
pg_restore --list "$work/database.dump" | grep -v ' EXTENSION ' > "$work/objects.list"
pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error \
    --use-list="$work/objects.list" --dbname="$PGDATABASE" "$work/database.dump"
find "$WEBUI_DATA" -mindepth 1 -delete
tar -C "$WEBUI_DATA" -xf "$work/webui-data.tar"
echo "restored $archive"
