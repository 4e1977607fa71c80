#!/usr/bin/env bash
# Permission benchmark (issue 3): field masks, and scoped list queries on SQLite and on a
# throwaway PostgreSQL cluster, with an org chart of 125 departments and ~1,000 users.
#
#   bash bench/run_permissions.sh                        # 1,000,000 rows, both databases
#   bash bench/run_permissions.sh --rows 100000 --db sqlite
#   bash bench/run_permissions.sh --write-docs           # update docs/benchmarks.md blocks
#
# SQLite: the database $OUT/sqlite/bench.db is reused when it already holds --rows customers
# seeded with --org tree (seeding 1M rows takes ~1 min), else seeded afresh. PostgreSQL: a
# cluster from scripts/pg_cluster.sh (fsync off; this script raises shared_buffers to 4GB,
# effective_cache_size 16GB, random_page_cost 1.1 as in run_all.sh and restarts it), seeded
# with COPY, removed at exit. Every query run adds --what-if (hand-written forms of the
# manager's page, with a temporary index that is dropped again). SQLite is measured as the
# platform leaves it (no statistics), then on a copy after ANALYZE ($OUT/sqlite/analyzed.db).
# Logs and JSON in --out (default /tmp/guanxi-bench/perm).
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
PY=${PY:-.venv/bin/python}
ROWS=1000000
DB=both
RUNS=50
OUT=/tmp/guanxi-bench/perm
DOCS=()
INNER=0

while [ "$#" -gt 0 ]; do
    case "$1" in
        --rows) ROWS=$2; shift 2 ;;
        --db) DB=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --write-docs) DOCS=(--write-docs); shift ;;
        --pg-inner) INNER=1; shift ;; # internal: run inside scripts/pg_cluster.sh
        -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$DB" in sqlite | postgresql | both) ;; *) echo "--db must be sqlite, postgresql or both" >&2; exit 2 ;; esac
mkdir -p "$OUT/logs"
LOGS=$OUT/logs
log() { printf 'run_permissions: %s\n' "$*" >&2; }

if [ "$INNER" = 1 ]; then
    URL=${GUANXI_TEST_DATABASE_URL:?run inside scripts/pg_cluster.sh}
    PSQL_URL=${URL/postgresql+psycopg/postgresql}
    PSQL=(psql -X -q -v ON_ERROR_STOP=1 "$PSQL_URL")
    command -v psql >/dev/null || PSQL=("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql" "${PSQL[@]:1}")
    DATA=$("${PSQL[@]}" -At -c "SHOW data_directory")
    BIN=$("${PSQL[@]}" -At -c "SELECT setting FROM pg_config WHERE name = 'BINDIR'" 2>/dev/null ||
        dirname "$(readlink -f "$(command -v pg_ctl)")")
    OWNER=$(stat -c %U "$DATA")
    "${PSQL[@]}" -c "ALTER SYSTEM SET shared_buffers = '4GB'" \
        -c "ALTER SYSTEM SET effective_cache_size = '16GB'" \
        -c "ALTER SYSTEM SET random_page_cost = 1.1" \
        -c "ALTER SYSTEM SET max_wal_size = '8GB'" \
        -c "ALTER SYSTEM SET maintenance_work_mem = '1GB'"
    (cd "$(dirname "$DATA")" && runuser -u "$OWNER" -- "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 restart) \
        >"$LOGS/pg_restart.log" 2>&1
    "${PSQL[@]}" -At -c "SELECT name || '=' || setting FROM pg_settings WHERE name IN ('shared_buffers',
        'effective_cache_size', 'random_page_cost', 'fsync', 'synchronous_commit', 'server_version')" |
        tee "$LOGS/pg_settings.txt"
    log "[postgresql] seed $ROWS rows (org tree)"
    "$PY" bench/seed.py --url "$URL" --rows "$ROWS" --org tree 2>&1 | tee "$LOGS/seed-postgresql.log"
    log "[postgresql] permissions (queries)"
    "$PY" bench/bench_permissions.py --url "$URL" --only queries --runs "$RUNS" --what-if \
        --json "$OUT/perm-postgresql.json" "${DOCS[@]}" 2>&1 | tee "$LOGS/perm-postgresql.log"
    exit 0
fi

{
    echo "date: $(date -u +%FT%TZ)"
    echo "nproc: $(nproc)"
    grep -m1 'model name' /proc/cpuinfo || true
    free -h
    uptime
    echo "git: $(git rev-parse --short HEAD 2>/dev/null) ($(git status --porcelain 2>/dev/null | wc -l) changed files)"
} | tee "$LOGS/environment.txt"

if [ "$DB" != postgresql ]; then
    mkdir -p "$OUT/sqlite"
    URL="sqlite:///$OUT/sqlite/bench.db"
    have=$("$PY" - "$OUT/sqlite/bench.db" <<'EOF' 2>/dev/null || echo 0
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
departments = c.execute("SELECT count(*) FROM gx_department").fetchone()[0]
print(c.execute("SELECT count(*) FROM e_customer").fetchone()[0] if departments > 7 else 0)
EOF
)
    if [ "$have" != "$ROWS" ]; then
        log "[sqlite] seed $ROWS rows (org tree)"
        rm -f "$OUT/sqlite/bench.db" "$OUT/sqlite/bench.db-wal" "$OUT/sqlite/bench.db-shm"
        "$PY" bench/seed.py --url "$URL" --rows "$ROWS" --org tree 2>&1 | tee "$LOGS/seed-sqlite.log"
    else
        log "[sqlite] reusing $OUT/sqlite/bench.db ($have customers, org tree)"
    fi
    log "[sqlite] permissions (masks + queries)"
    "$PY" bench/bench_permissions.py --url "$URL" --runs "$RUNS" --what-if \
        --json "$OUT/perm-sqlite.json" "${DOCS[@]}" 2>&1 | tee "$LOGS/perm-sqlite.log"
    # ANALYZE writes sqlite_stat1 into the file: measure that state on a copy.
    log "[sqlite] queries after ANALYZE (on a copy)"
    rm -f "$OUT/sqlite/analyzed.db"
    "$PY" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' \
        "$OUT/sqlite/bench.db" "$OUT/sqlite/analyzed.db"
    "$PY" bench/bench_permissions.py --url "sqlite:///$OUT/sqlite/analyzed.db" --only queries \
        --analyze --runs "$RUNS" --what-if --json "$OUT/perm-sqlite-analyzed.json" "${DOCS[@]}" \
        2>&1 | tee "$LOGS/perm-sqlite-analyzed.log"
    rm -f "$OUT/sqlite/analyzed.db"
fi

if [ "$DB" != sqlite ]; then
    inner=(bash bench/run_permissions.sh --pg-inner --rows "$ROWS" --runs "$RUNS" --out "$OUT" "${DOCS[@]}")
    bash scripts/pg_cluster.sh "${inner[@]}"
fi
log "done; logs in $LOGS"
