#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback, for the tests that run on PostgreSQL (and for
# trying `--database postgres://…` by hand). Installs Debian's postgresql when missing.
#   bash scripts/postgres.sh start DIR [PORT]   prints the server's URL (default port 55432)
#   bash scripts/postgres.sh stop DIR           stops it and deletes DIR
# The server trusts every connection from 127.0.0.1 and listens nowhere else; it keeps no data
# safely (fsync off): it is for tests only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:?usage: postgres.sh start|stop DIR [PORT]}"
dir="${2:?usage: postgres.sh start|stop DIR [PORT]}"
port="${3:-55432}"

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
# initdb and pg_ctl refuse to run as root: run them as the postgres user then.
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
  start)
    if [ -z "$(pgbin)" ]; then
      printf '\033[1;34m[postgres]\033[0m installing Debian postgresql\n' >&2
      need_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq postgresql >/dev/null
    fi
    bin="$(pgbin)"
    mkdir -p "$dir/data" "$dir/sock"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C \
      --no-sync --no-instructions >/dev/null
    # Locale C: text sorts by bytes, as SQLite's default collation does.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    bin="$(pgbin)"
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *) echo "usage: postgres.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
