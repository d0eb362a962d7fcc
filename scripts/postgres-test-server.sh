#!/usr/bin/env bash
# postgres-test-server.sh: a throwaway PostgreSQL server for the test suite.
#
#   scripts/postgres-test-server.sh start DIR   initialises a cluster in DIR (empty or missing),
#                                               starts it on 127.0.0.1 on a free port and prints
#                                               the URL of its `postgres` database
#   scripts/postgres-test-server.sh stop DIR    stops it (immediately: nothing is kept) and
#                                               deletes DIR
#
# Uses the server binaries of Debian's postgresql package (/usr/lib/postgresql/<version>/bin,
# installed by scripts/setup.sh). PostgreSQL refuses to run as root, so as root the cluster
# belongs to the `postgres` user (created by that package) and every server command runs as it.
# Authentication is `trust` on a loopback-only server: the data are test fixtures. fsync is off:
# a crash loses nothing a test needs.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$2

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$bin" ] && [ -x "$bin/pg_ctl" ] || {
    echo "postgres-test-server: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (scripts/setup.sh installs them)" >&2
    exit 1
}

# as_owner COMMAND...: runs a server command as the cluster's owner.
if [ "$(id -u)" -eq 0 ]; then
    owner=postgres
    as_owner() { runuser -u "$owner" -- "$@"; }
else
    owner=$(id -un)
    as_owner() { "$@"; }
fi

case $action in
start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown "$owner" "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 > "$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    # Tests run in parallel, each with a database of its own and a pool of a few connections.
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --timeout=60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start > /dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" --pgdata="$dir/data" --mode=immediate --wait stop > /dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    usage
    ;;
esac
