#!/bin/sh
# Back up Open WebUI: its database (users, chats, documents and their vectors) and its data
# folder (uploads), as one archive in $BACKUP_DIR; archives older than $RETENTION_DAYS days go
# (counted in minutes: `find -mtime +N` would keep them until N+1 whole days had passed).
# Needs PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE, WEBUI_DATA, BACKUP_DIR, RETENTION_DAYS.
# Prints the archive's path. Installed by llm-appliance (the backup CronJob runs it).
set -eu
umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pg_dump --format=custom --no-owner --file="$work/database.dump"
tar -C "$WEBUI_DATA" -cf "$work/webui-data.tar" .
archive="$BACKUP_DIR/llm-appliance-$(date -u +%Y%m%d-%H%M%S).tar"
tar -C "$work" -cf "$archive.partial" database.dump webui-data.tar
mv "$archive.partial" "$archive"
find "$BACKUP_DIR" -maxdepth 1 -name 'llm-appliance-*.tar' -mmin +"$((RETENTION_DAYS * 1440))" -delete
echo "$archive"
