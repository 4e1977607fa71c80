# shellcheck shell=bash
# Throwaway PostgreSQL cluster helpers for the test suite.
#
# Source this file (bash), then:
#
#   pgc_provision        # find (or apt-install) initdb/pg_ctl/psql and pg_trgm
#   trap 'pgc_stop' EXIT # always tear down, whatever happens
#   pgc_start            # initdb + start on a free loopback port,
#                        # create database guanxi_test with pg_trgm
#   echo "$PGC_URL"      # postgresql+psycopg://guanxi@127.0.0.1:PORT/guanxi_test
#   pgc_stop             # immediate stop + remove the temp dir (idempotent)
#
# It can also be run directly to get a cluster for manual poking:
#
#   bash scripts/pg_cluster.sh [COMMAND ARGS...]
#
# starts a cluster, exports GUANXI_TEST_DATABASE_URL, runs COMMAND (default:
# an interactive shell) and tears the cluster down afterwards.
#
# All functions report errors on stderr and return non-zero; callers decide
# whether that is fatal. Nothing here relies on `set -e`.
#
# Knobs (environment):
#   GUANXI_PG_BINDIR   use this directory for initdb/pg_ctl/postgres
#   GUANXI_PG_LIBDIR   where versioned installs live (default /usr/lib/postgresql)
#   GUANXI_PG_USER     unprivileged user to run the server as when we are root
#                      (default: postgres if it exists, else guanxi-pg, created)

PGC_DB_USER=guanxi
PGC_DB_NAME=guanxi_test

PGC_BINDIR=""
PGC_PSQL=""
PGC_RUN_AS=""     # empty when not root
PGC_TMPDIR=""
PGC_DATADIR=""
PGC_PORT=""
PGC_URL=""
PGC_STARTED=0

pgc_log() { printf 'pg_cluster: %s\n' "$*" >&2; }
pgc_err() { printf 'pg_cluster: ERROR: %s\n' "$*" >&2; }

# Run a command as root: directly if we are root, via sudo otherwise.
pgc_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        pgc_err "need root (or sudo) to run: $*"
        return 1
    fi
}

pgc_apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        pgc_err "apt-get not available; cannot install: $*"
        return 1
    fi
    pgc_log "installing with apt-get: $*"
    pgc_as_root apt-get update || return 1
    pgc_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "$@" || return 1
}

# A bin directory is usable if it has initdb, pg_ctl and postgres.
pgc_bindir_ok() {
    [ -n "$1" ] && [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]
}

# Sets PGC_BINDIR. Order: $GUANXI_PG_BINDIR, initdb on PATH (its real
# directory), newest $GUANXI_PG_LIBDIR/*/bin.
pgc_find_bindir() {
    PGC_BINDIR=""
    if [ -n "${GUANXI_PG_BINDIR:-}" ]; then
        if pgc_bindir_ok "$GUANXI_PG_BINDIR"; then
            PGC_BINDIR=$GUANXI_PG_BINDIR
            return 0
        fi
        pgc_err "GUANXI_PG_BINDIR=$GUANXI_PG_BINDIR lacks initdb/pg_ctl/postgres"
        return 1
    fi
    local p d
    if p=$(command -v initdb 2>/dev/null) && command -v pg_ctl >/dev/null 2>&1; then
        d=$(dirname "$(readlink -f "$p")")
        if pgc_bindir_ok "$d"; then
            PGC_BINDIR=$d
            return 0
        fi
    fi
    local libdir=${GUANXI_PG_LIBDIR:-/usr/lib/postgresql}
    local candidates
    # Version directories sorted newest first (15, 14, 9.6 ...).
    # shellcheck disable=SC2012  # version dir names are plain
    candidates=$(ls -1 "$libdir" 2>/dev/null | sort -rV) || true
    for d in $candidates; do
        if pgc_bindir_ok "$libdir/$d/bin"; then
            PGC_BINDIR=$libdir/$d/bin
            return 0
        fi
    done
    return 1
}

pgc_major_version() {
    # "pg_ctl (PostgreSQL) 15.18 (Debian ...)" -> 15 ; "9.6.24" -> 9.6
    "$PGC_BINDIR/pg_ctl" --version | awk '{print $3}' |
        awk -F. '{ if ($1 >= 10) print $1; else print $1 "." $2 }'
}

pgc_sharedir() {
    if [ -x "$PGC_BINDIR/pg_config" ]; then
        "$PGC_BINDIR/pg_config" --sharedir 2>/dev/null && return 0
    fi
    local major d
    major=$(pgc_major_version)
    for d in "/usr/share/postgresql/$major" "$PGC_BINDIR/../share/postgresql" "$PGC_BINDIR/../share"; do
        if [ -d "$d/extension" ]; then
            readlink -f "$d"
            return 0
        fi
    done
    return 1
}

pgc_has_trgm() {
    local share
    share=$(pgc_sharedir) || return 1
    [ -f "$share/extension/pg_trgm.control" ]
}

pgc_find_psql() {
    PGC_PSQL=""
    if [ -x "$PGC_BINDIR/psql" ]; then
        PGC_PSQL=$PGC_BINDIR/psql
    elif command -v psql >/dev/null 2>&1; then
        PGC_PSQL=$(command -v psql)
    else
        return 1
    fi
}

# Make sure server binaries, psql and pg_trgm are available, installing the
# Debian packages if needed. Returns non-zero with a clear message otherwise.
pgc_provision() {
    if ! pgc_find_bindir; then
        [ -n "${GUANXI_PG_BINDIR:-}" ] && return 1
        pgc_log "initdb/pg_ctl not found on PATH or under ${GUANXI_PG_LIBDIR:-/usr/lib/postgresql}/*/bin"
        pgc_apt_install postgresql || {
            pgc_err "could not install PostgreSQL with apt-get"
            return 1
        }
        if ! pgc_find_bindir; then
            pgc_err "PostgreSQL server binaries (initdb, pg_ctl, postgres) still not found" \
                "after installing 'postgresql'. Install PostgreSQL >= 12 or set GUANXI_PG_BINDIR."
            return 1
        fi
    fi
    local major
    major=$(pgc_major_version)
    if ! pgc_has_trgm; then
        pgc_log "pg_trgm extension not found for PostgreSQL $major; installing contrib"
        # Since PostgreSQL 10 Debian ships contrib inside postgresql-NN;
        # postgresql-contrib is the (meta)package that pulls it in.
        pgc_apt_install "postgresql-$major" postgresql-contrib ||
            pgc_apt_install postgresql-contrib || true
        if ! pgc_has_trgm; then
            pgc_err "pg_trgm.control not found in '$(pgc_sharedir || echo '?')/extension' for" \
                "PostgreSQL $major ($PGC_BINDIR). Install the contrib package for that version."
            return 1
        fi
    fi
    if ! pgc_find_psql; then
        pgc_apt_install "postgresql-client-$major" || pgc_apt_install postgresql-client || true
        if ! pgc_find_psql; then
            pgc_err "psql not found (install postgresql-client)"
            return 1
        fi
    fi
    pgc_log "using PostgreSQL $major from $PGC_BINDIR (pg_trgm available)"
}

# Decide which user runs initdb/pg_ctl (initdb refuses to run as root).
pgc_setup_user() {
    PGC_RUN_AS=""
    [ "$(id -u)" -eq 0 ] || return 0
    local u=${GUANXI_PG_USER:-}
    if [ -z "$u" ]; then
        if id -u postgres >/dev/null 2>&1; then
            u=postgres
        else
            u=guanxi-pg
        fi
    fi
    if ! id -u "$u" >/dev/null 2>&1; then
        pgc_log "creating system user $u"
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --user-group "$u" || {
            pgc_err "could not create system user $u"
            return 1
        }
    fi
    PGC_RUN_AS=$u
}

# Run a PostgreSQL server tool as the cluster owner, from inside the temp dir
# (so a root-only cwd does not bother it).
pgc_run() {
    if [ -n "$PGC_RUN_AS" ]; then
        (cd "$PGC_TMPDIR" && runuser -u "$PGC_RUN_AS" -- "$@")
    else
        (cd "$PGC_TMPDIR" && "$@")
    fi
}

pgc_free_port() {
    python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

pgc_locale() {
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        echo C.UTF-8
    else
        echo C
    fi
}

pgc_psql() {
    "$PGC_PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGC_PORT" -U "$PGC_DB_USER" "$@"
}

# Create and start the throwaway cluster. On failure it cleans up after itself.
pgc_start() {
    if [ -z "$PGC_BINDIR" ] || [ -z "$PGC_PSQL" ]; then
        pgc_provision || return 1
    fi
    pgc_setup_user || return 1

    local base=/tmp
    if [ "$(id -u)" -ne 0 ] && [ -n "${TMPDIR:-}" ] && [ "${#TMPDIR}" -le 60 ]; then
        base=$TMPDIR   # short enough for the unix socket path limit
    fi
    PGC_TMPDIR=$(mktemp -d "$base/guanxi-pg.XXXXXX") || {
        pgc_err "mktemp failed"
        return 1
    }
    if [ -n "$PGC_RUN_AS" ]; then
        chown "$PGC_RUN_AS:" "$PGC_TMPDIR" || { pgc_stop; return 1; }
    fi
    chmod 700 "$PGC_TMPDIR"
    PGC_DATADIR=$PGC_TMPDIR/data

    local loc
    loc=$(pgc_locale)
    if ! pgc_run "$PGC_BINDIR/initdb" -D "$PGC_DATADIR" -A trust -U "$PGC_DB_USER" \
        --no-sync -E UTF8 --locale="$loc" >"$PGC_TMPDIR/initdb.log" 2>&1; then
        pgc_err "initdb failed:"
        cat "$PGC_TMPDIR/initdb.log" >&2
        pgc_stop
        return 1
    fi

    local attempt
    for attempt in 1 2 3 4 5; do
        PGC_PORT=$(pgc_free_port) || { pgc_err "could not pick a free port"; pgc_stop; return 1; }
        if pgc_run "$PGC_BINDIR/pg_ctl" -D "$PGC_DATADIR" -l "$PGC_TMPDIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PGC_PORT -c unix_socket_directories=$PGC_TMPDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >"$PGC_TMPDIR/pg_ctl.log" 2>&1; then
            PGC_STARTED=1
            break
        fi
        # The postmaster may be half-up; make sure it is gone before retrying.
        pgc_run "$PGC_BINDIR/pg_ctl" -D "$PGC_DATADIR" -m immediate stop >/dev/null 2>&1 || true
        if [ "$attempt" -lt 5 ] && grep -qiE 'could not (bind|create listen)|address already in use' \
            "$PGC_TMPDIR/server.log" 2>/dev/null; then
            pgc_log "port $PGC_PORT was taken, retrying"
            continue
        fi
        pgc_err "pg_ctl start failed:"
        cat "$PGC_TMPDIR/pg_ctl.log" "$PGC_TMPDIR/server.log" >&2 2>/dev/null || true
        pgc_stop
        return 1
    done
    [ "$PGC_STARTED" -eq 1 ] || { pgc_stop; return 1; }

    if ! pgc_psql -d postgres -c "CREATE DATABASE $PGC_DB_NAME OWNER $PGC_DB_USER"; then
        pgc_err "could not create database $PGC_DB_NAME"
        pgc_stop
        return 1
    fi
    if ! pgc_psql -d "$PGC_DB_NAME" -c "CREATE EXTENSION IF NOT EXISTS pg_trgm"; then
        pgc_err "could not create extension pg_trgm in $PGC_DB_NAME"
        pgc_stop
        return 1
    fi
    PGC_URL="postgresql+psycopg://$PGC_DB_USER@127.0.0.1:$PGC_PORT/$PGC_DB_NAME"
    pgc_log "cluster up on 127.0.0.1:$PGC_PORT (data in $PGC_DATADIR)"
}

# Stop the cluster and remove its directory. Safe to call repeatedly and from
# an EXIT trap (never fails).
pgc_stop() {
    if [ -n "$PGC_DATADIR" ] && [ -f "$PGC_DATADIR/postmaster.pid" ]; then
        pgc_run "$PGC_BINDIR/pg_ctl" -D "$PGC_DATADIR" -m immediate -w -t 30 stop \
            >/dev/null 2>&1 || true
        if [ -f "$PGC_DATADIR/postmaster.pid" ]; then
            # pg_ctl could not stop it: kill the postmaster we started, by pid.
            local pid
            pid=$(head -n1 "$PGC_DATADIR/postmaster.pid" 2>/dev/null) || pid=""
            if [ -n "$pid" ] && [ "$pid" -gt 1 ] 2>/dev/null; then
                kill -KILL "$pid" 2>/dev/null || true
                sleep 1
            fi
        fi
    fi
    if [ -n "$PGC_TMPDIR" ] && [ -d "$PGC_TMPDIR" ]; then
        rm -rf -- "$PGC_TMPDIR" || true
    fi
    if [ "$PGC_STARTED" -eq 1 ]; then
        pgc_log "cluster on port $PGC_PORT stopped and removed"
    fi
    PGC_TMPDIR=""
    PGC_DATADIR=""
    PGC_STARTED=0
    return 0
}

# Standalone use: bash scripts/pg_cluster.sh [COMMAND ARGS...]
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    trap 'pgc_stop' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
    pgc_provision || exit 1
    pgc_start || exit 1
    export GUANXI_TEST_DATABASE_URL=$PGC_URL
    echo "GUANXI_TEST_DATABASE_URL=$GUANXI_TEST_DATABASE_URL"
    echo "psql: $PGC_PSQL -h 127.0.0.1 -p $PGC_PORT -U $PGC_DB_USER $PGC_DB_NAME"
    if [ "$#" -eq 0 ]; then
        set -- "${SHELL:-bash}"
    fi
    "$@"
    exit $?
fi
