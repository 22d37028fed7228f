#!/bin/sh
# Restore an archive made by backup.sh: the database's objects are replaced by the archive's,
# and the data folder's content by its copy. The `vector` extension stays as it is (it belongs
# to the superuser, who made it at bootstrap; the application user may not drop it).
# Needs PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE and WEBUI_DATA. Installed by llm-appliance.
#
#   restore.sh ARCHIVE
set -eu
archive=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xf "$archive" database.dump webui-data.tar
pg_restore --list "$work/database.dump" | grep -v ' EXTENSION ' > "$work/objects.list"
pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error \
    --use-list="$work/objects.list" --dbname="$PGDATABASE" "$work/database.dump"
find "$WEBUI_DATA" -mindepth 1 -delete
tar -C "$WEBUI_DATA" -xf "$work/webui-data.tar"
echo "restored $archive"
