#!/usr/bin/env bash
# Seed, query and create benchmarks on SQLite and/or a throwaway PostgreSQL 15 cluster.
#
#   bash bench/run_all.sh                           # 1,000,000 rows, both databases
#   bash bench/run_all.sh --rows 100000 --db sqlite
#   bash bench/run_all.sh --db postgresql --runs 50 --creates 5000 --out /tmp/guanxi-bench
#   bash bench/run_all.sh --creates-only              # seed + create benchmarks, no queries
#
# Logs and JSON results go to --out (default /tmp/guanxi-bench; a 1M-row run needs ~2 GB
# there per database). The PostgreSQL cluster lives in a mktemp dir, listens on 127.0.0.1
# on a free port with trust auth for user `guanxi`, and is stopped and removed at exit.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
PY=${PY:-.venv/bin/python}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ROWS=1000000
DB=both
RUNS=50
CREATES=5000
OUT=/tmp/guanxi-bench
QUERIES=1

while [ "$#" -gt 0 ]; do
    case "$1" in
        --rows) ROWS=$2; shift 2 ;;
        --db) DB=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --creates) CREATES=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --creates-only) QUERIES=0; shift ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$DB" in sqlite | postgresql | both) ;; *) echo "--db must be sqlite, postgresql or both" >&2; exit 2 ;; esac
mkdir -p "$OUT/logs"
LOGS=$OUT/logs

log() { printf 'run_all: %s\n' "$*" >&2; }

{
    echo "date: $(date -u +%FT%TZ)"
    echo "nproc: $(nproc)"
    free -h
    "$PY" -c 'import sys, sqlite3, sqlalchemy, psycopg; print("python", sys.version.split()[0], "| sqlite", sqlite3.sqlite_version, "| sqlalchemy", sqlalchemy.__version__, "| psycopg", psycopg.__version__)'
    "$PG_BIN/postgres" --version 2>/dev/null || true
    echo "git: $(git rev-parse --short HEAD 2>/dev/null) ($(git status --porcelain 2>/dev/null | wc -l) changed files)"
} | tee "$LOGS/environment.txt"

suite() { # suite LABEL URL
    local label=$1 url=$2
    log "[$label] seed $ROWS rows"
    "$PY" bench/seed.py --url "$url" --rows "$ROWS" 2>&1 | tee "$LOGS/seed-$label.log"
    if [ "$QUERIES" = 1 ]; then
        log "[$label] queries"
        "$PY" bench/bench_query.py --url "$url" --rows "$ROWS" --runs "$RUNS" --json "$OUT/query-$label.json" \
            2>&1 | tee "$LOGS/query-$label.log"
        if [ "$label" = sqlite ]; then
            # The platform never runs ANALYZE on SQLite; SQLite's docs recommend it (PRAGMA optimize).
            # Plans differ with statistics, so measure both states.
            log "[$label] queries after ANALYZE"
            "$PY" bench/bench_query.py --url "$url" --rows "$ROWS" --runs "$RUNS" --analyze \
                --json "$OUT/query-$label-analyzed.json" 2>&1 | tee "$LOGS/query-$label-analyzed.log"
        fi
    fi
    log "[$label] creates (into the seeded table)"
    "$PY" bench/bench_create.py --url "$url" --rows "$CREATES" 2>&1 | tee "$LOGS/create-$label.log"
}

create_empty() { # create_empty LABEL URL: the same create benchmark on an empty database
    log "[$1] creates into an empty database"
    "$PY" bench/bench_create.py --url "$2" --rows "$CREATES" 2>&1 | tee "$LOGS/create-$1-empty.log"
}

# ---------------------------------------------------------------- SQLite ----
if [ "$DB" != postgresql ]; then
    rm -rf "$OUT/sqlite"
    mkdir -p "$OUT/sqlite"
    suite sqlite "sqlite:///$OUT/sqlite/bench.db"
    create_empty sqlite "sqlite:///$OUT/sqlite/empty.db"
    du -sh "$OUT/sqlite" | tee -a "$LOGS/seed-sqlite.log"
fi

# ------------------------------------------------------------ PostgreSQL ----
PG_TMP=""
PG_USER=""
pg_stop() {
    if [ -n "$PG_TMP" ] && [ -f "$PG_TMP/data/postmaster.pid" ]; then
        (cd "$PG_TMP" && runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w stop) >/dev/null 2>&1 || true
    fi
    [ -n "$PG_TMP" ] && rm -rf -- "$PG_TMP"
    PG_TMP=""
}

if [ "$DB" != sqlite ]; then
    [ -x "$PG_BIN/initdb" ] || { echo "no $PG_BIN/initdb (set PG_BIN)" >&2; exit 1; }
    [ "$(id -u)" -eq 0 ] || { echo "run as root (initdb/pg_ctl run via runuser)" >&2; exit 1; }
    PG_USER=postgres
    if ! id -u "$PG_USER" >/dev/null 2>&1; then
        PG_USER=guanxi-pg
        id -u "$PG_USER" >/dev/null 2>&1 ||
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group "$PG_USER"
    fi
    trap pg_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    PG_TMP=$(mktemp -d /tmp/guanxi-bench-pg.XXXXXX)
    chown "$PG_USER:" "$PG_TMP"
    chmod 700 "$PG_TMP"
    (cd "$PG_TMP" && runuser -u "$PG_USER" -- "$PG_BIN/initdb" -D "$PG_TMP/data" -A trust -U guanxi \
        -E UTF8 --locale=C.UTF-8 --no-sync) >"$LOGS/initdb.log" 2>&1
    PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Production-like settings for a 24 GB / 2 core box; fsync and synchronous_commit stay on.
    (cd "$PG_TMP" && runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$PG_TMP -c shared_buffers=4GB -c effective_cache_size=16GB -c random_page_cost=1.1 -c max_wal_size=8GB -c maintenance_work_mem=1GB" \
        start) >"$LOGS/pg_ctl.log" 2>&1 || { cat "$LOGS/pg_ctl.log" "$PG_TMP/server.log" >&2; exit 1; }
    PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U guanxi)
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE bench"
    "${PSQL[@]}" -d bench -c "CREATE EXTENSION IF NOT EXISTS pg_trgm"
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE empty"
    "${PSQL[@]}" -d empty -c "CREATE EXTENSION IF NOT EXISTS pg_trgm"
    log "PostgreSQL on 127.0.0.1:$PORT ($PG_TMP)"
    suite postgresql "postgresql+psycopg://guanxi@127.0.0.1:$PORT/bench"
    create_empty postgresql "postgresql+psycopg://guanxi@127.0.0.1:$PORT/empty"
    "${PSQL[@]}" -d bench -At -c "SELECT 'database size: ' || pg_size_pretty(pg_database_size('bench'))" |
        tee -a "$LOGS/seed-postgresql.log"
fi
log "done; logs in $LOGS"
