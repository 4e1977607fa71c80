#!/usr/bin/env bash
# Run lint and the test suite against SQLite and a throwaway PostgreSQL.
#
#   bash scripts/test.sh                 # ruff + pytest on SQLite and PostgreSQL
#   bash scripts/test.sh -k something    # extra args are passed to pytest
#   GUANXI_TEST_DB=sqlite bash scripts/test.sh       # only SQLite
#   GUANXI_TEST_DB=postgresql bash scripts/test.sh   # only PostgreSQL
#
# Works on a fresh Debian 12 machine: creates .venv, installs '.[test]',
# installs PostgreSQL and Chromium (for tests/browser) with apt-get if needed.
# Missing tools are installed or the run fails; nothing is silently skipped
# (CI=true or not).
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
REPO_ROOT=$PWD

# shellcheck source-path=SCRIPTDIR source=pg_cluster.sh
. "$REPO_ROOT/scripts/pg_cluster.sh"

die() {
    printf 'test.sh: ERROR: %s\n' "$*" >&2
    exit 1
}
log() { printf 'test.sh: %s\n' "$*" >&2; }

GUANXI_TEST_DB=${GUANXI_TEST_DB:-both}
case "$GUANXI_TEST_DB" in
    sqlite) RUN_SQLITE=1 RUN_PG=0 ;;
    postgresql | postgres | pg) RUN_SQLITE=0 RUN_PG=1 ;;
    both) RUN_SQLITE=1 RUN_PG=1 ;;
    *) die "GUANXI_TEST_DB must be sqlite, postgresql or both (got '$GUANXI_TEST_DB')" ;;
esac

# pytest runs in its own session/process group (see run_pytest) so that
# everything it spawns (xdist workers) can be stopped by group id.
PYTEST_PGID=""

# stop_group PGID: TERM a process group, then KILL whatever is left after 5 s.
stop_group() {
    local pgid=$1 _
    [ -n "$pgid" ] || return 0
    kill -TERM -- "-$pgid" 2>/dev/null || return 0
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 -- "-$pgid" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
}

stop_pytest_group() {
    local pgid=$PYTEST_PGID
    PYTEST_PGID=""
    stop_group "$pgid"
}

# The live server of the schemathesis step (its own process group, like pytest).
SERVER_PGID=""

stop_server_group() {
    local pgid=$SERVER_PGID
    SERVER_PGID=""
    stop_group "$pgid"
}

# Whatever happens (error, Ctrl-C, kill), stop pytest leftovers and the
# cluster, and remove the cluster's temp dir.
# shellcheck disable=SC2329  # invoked by the traps below
on_exit() {
    local rc=$?
    trap - INT TERM HUP
    stop_pytest_group
    stop_server_group
    pgc_stop
    exit "$rc"
}
# shellcheck disable=SC2329
on_signal() {
    # Let pytest see the Ctrl-C (it is not in our terminal's process group),
    # give it a moment to print its report, then exit; on_exit cleans up.
    if [ -n "$PYTEST_PGID" ]; then
        kill -INT -- "-$PYTEST_PGID" 2>/dev/null || true
        local _
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 -- "-$PYTEST_PGID" 2>/dev/null || break
            sleep 0.5
        done
    fi
    exit "$1"
}
trap on_exit EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

# ---------------------------------------------------------------- Python ----
command -v python3 >/dev/null 2>&1 || die "python3 not found (need Python >= 3.11)"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
    die "python3 is $(python3 -c 'import platform; print(platform.python_version())'); need Python >= 3.11"

venv_ok() {
    [ -x .venv/bin/python ] &&
        .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
            >/dev/null 2>&1 &&
        [ -x .venv/bin/pip ]
}

if ! venv_ok; then
    [ -e .venv ] && { log "removing unusable .venv"; rm -rf .venv; }
    log "creating .venv with $(command -v python3)"
    if ! python3 -m venv .venv; then
        # Debian's python3 lacks ensurepip until python3-venv is installed.
        rm -rf .venv
        pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        pgc_apt_install "python3.$(echo "$pyver" | cut -d. -f2)-venv" ||
            pgc_apt_install python3-venv ||
            die "python3 -m venv failed and python3-venv could not be installed"
        python3 -m venv .venv || die "python3 -m venv failed"
    fi
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip ||
        die "could not upgrade pip in .venv"
fi

log "installing the project into .venv (pip install -e '.[test]')"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' ||
    die "pip install -e '.[test]' failed"

[ -x .venv/bin/ruff ] || die ".venv/bin/ruff missing: add ruff to the 'test' extra in pyproject.toml"
.venv/bin/python -c 'import pytest, xdist' 2>/dev/null ||
    die "pytest and pytest-xdist must be in the 'test' extra in pyproject.toml"
[ -x .venv/bin/schemathesis ] ||
    die ".venv/bin/schemathesis missing: add schemathesis to the 'test' extra in pyproject.toml"
.venv/bin/python -c 'import playwright.sync_api' 2>/dev/null ||
    die "playwright must be in the 'test' extra in pyproject.toml (tests/browser)"

# ------------------------------------------------------------ PostgreSQL ----
PG_URL=""
if [ "$RUN_PG" -eq 1 ]; then
    pgc_provision || die "PostgreSQL is required for the PostgreSQL run (GUANXI_TEST_DB=$GUANXI_TEST_DB)"
    pgc_start || die "could not start the throwaway PostgreSQL cluster"
    PG_URL=$PGC_URL
fi

# -------------------------------------------------------------- Chromium ----
# tests/browser drive Debian's Chromium through Playwright (never `playwright
# install`); fonts-noto-cjk gives the screenshots Chinese glyphs.
CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
    log "$CHROMIUM not found; installing chromium and fonts-noto-cjk for the browser tests"
    pgc_apt_install chromium fonts-noto-cjk ||
        die "could not install chromium and fonts-noto-cjk with apt-get (needed by tests/browser)"
    [ -x "$CHROMIUM" ] || die "$CHROMIUM still missing after installing the 'chromium' package"
fi
export GUANXI_CHROMIUM=$CHROMIUM

# WeasyPrint (PDF quotes and contracts, DATA-18) loads Debian's pango at import time.
if ! .venv/bin/python -c "import weasyprint" >/dev/null 2>&1; then
    log "WeasyPrint cannot load pango; installing libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk"
    pgc_apt_install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk ||
        die "could not install pango for WeasyPrint with apt-get (needed by tests/sfa/test_printing.py)"
    .venv/bin/python -c "import weasyprint" || die "weasyprint still does not import after installing pango"
fi

# ------------------------------------------------------------------ Lint ----
lint_dirs=()
for d in platform plugins tests bench; do
    [ -d "$d" ] && lint_dirs+=("$d")
done
echo "== ruff =="
rc_lint=0
if [ "${#lint_dirs[@]}" -gt 0 ]; then
    .venv/bin/ruff check "${lint_dirs[@]}" || rc_lint=$?
else
    echo "no source directories found to lint" >&2
    rc_lint=1
fi

command -v setsid >/dev/null 2>&1 || die "setsid (util-linux) not found"

# ------------------------------------------------------ API (schemathesis) ----
# Runs before pytest so that pytest's own summaries are the last test reports printed.
# API-02: schemathesis against a live `guanxi serve` on a throwaway database with demo data,
# once with an admin's token and once with a sales rep's (masks, scopes, fewer operations):
# no 5xx, every status, content type and body as the server's own OpenAPI document says.
# Bounded by GUANXI_SCHEMATHESIS_EXAMPLES test cases per operation and phase.
ST_EXAMPLES=${GUANXI_SCHEMATHESIS_EXAMPLES:-20}
ST_CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method,allow_header_conformance

# run_schemathesis DATABASE_URL [PG_SCHEMA]
run_schemathesis() {
    local url=$1 schema=${2:-} dir port token rep_token rc=0 _
    dir=$(mktemp -d)
    port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    local envs=(
        "GUANXI_DATABASE_URL=$url"
        "GUANXI_SECRET_KEY=schemathesis-run-$(date +%s)-signing-key-of-32-chars"
        "GUANXI_ATTACHMENTS_DIR=$dir/attachments"
        "GUANXI_API_RATE_LIMIT=1000000"
        "GUANXI_ADMIN_PASSWORD=Schemathesis-Fuzz-2024!"
    )
    [ -n "$schema" ] && envs+=("GUANXI_DATABASE_SCHEMA=$schema")
    if ! env "${envs[@]}" .venv/bin/guanxi init --admin admin >"$dir/setup.log" 2>&1 ||
        ! env "${envs[@]}" .venv/bin/guanxi demo --customers 60 >>"$dir/setup.log" 2>&1; then
        cat "$dir/setup.log" >&2
        rm -rf "$dir"
        return 1
    fi
    token=$(env "${envs[@]}" .venv/bin/guanxi token create admin schemathesis | tail -n 1)
    rep_token=$(env "${envs[@]}" .venv/bin/guanxi token create rep01 schemathesis | tail -n 1)
    setsid env "${envs[@]}" .venv/bin/guanxi serve --host 127.0.0.1 --port "$port" \
        >"$dir/server.log" 2>&1 </dev/null &
    SERVER_PGID=$!
    for _ in $(seq 1 60); do
        .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
            2>/dev/null && break
        sleep 0.5
    done
    local who
    for who in admin rep01; do
        local bearer=$token examples=$ST_EXAMPLES
        [ "$who" = rep01 ] && bearer=$rep_token examples=$(((ST_EXAMPLES + 1) / 2))
        echo "-- schemathesis as $who ($examples examples per operation and phase)"
        (cd "$dir" && "$REPO_ROOT/.venv/bin/schemathesis" run \
            "http://127.0.0.1:$port/api/openapi.json" \
            --header "Authorization: Bearer $bearer" \
            --checks "$ST_CHECKS" --max-examples "$examples" \
            --generation-database none --no-color --request-timeout 30) || rc=1
    done
    stop_server_group
    if grep -q "Traceback" "$dir/server.log"; then
        echo "the server logged a traceback during the schemathesis run:" >&2
        grep -B2 -A30 "Traceback" "$dir/server.log" | head -80 >&2
        rc=1
    fi
    rm -rf "$dir"
    return "$rc"
}

st_sqlite=skipped
if [ "$RUN_SQLITE" -eq 1 ]; then
    echo "== schemathesis (SQLite) =="
    st_dir=$(mktemp -d)
    st_sqlite=0
    run_schemathesis "sqlite:///$st_dir/guanxi.db" || st_sqlite=$?
    rm -rf "$st_dir"
fi

st_pg=skipped
if [ "$RUN_PG" -eq 1 ]; then
    echo "== schemathesis (PostgreSQL) =="
    st_schema="schemathesis_$$"
    st_pg=0
    .venv/bin/python - "$PG_URL" "$st_schema" <<'PY' || st_pg=$?
import sys
import sqlalchemy as sa
from guanxi.store.db import normalize_url
with sa.create_engine(normalize_url(sys.argv[1])).begin() as connection:
    connection.exec_driver_sql(f'CREATE SCHEMA "{sys.argv[2]}"')
PY
    if [ "$st_pg" = 0 ]; then
        run_schemathesis "$PG_URL" "$st_schema" || st_pg=$?
    fi
fi

# ----------------------------------------------------------------- Tests ----
# run_pytest ENV-ARGS... -- PYTEST-ARGS...
# pytest exit 5 (no tests collected) is a failure like any non-zero code.
run_pytest() {
    local envargs=()
    while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
        envargs+=("$1")
        shift
    done
    shift # --
    local rc=0
    setsid env "${envargs[@]}" .venv/bin/python -m pytest -q -n 2 tests "$@" <&0 &
    PYTEST_PGID=$!
    wait "$PYTEST_PGID" || rc=$?
    stop_pytest_group # leftover xdist workers if pytest itself died
    return "$rc"
}

rc_sqlite=skipped
if [ "$RUN_SQLITE" -eq 1 ]; then
    echo "== SQLite =="
    rc_sqlite=0
    run_pytest -u GUANXI_TEST_DATABASE_URL -- "$@" || rc_sqlite=$?
fi

rc_pg=skipped
if [ "$RUN_PG" -eq 1 ]; then
    echo "== PostgreSQL =="
    echo "GUANXI_TEST_DATABASE_URL=$PG_URL"
    rc_pg=0
    run_pytest "GUANXI_TEST_DATABASE_URL=$PG_URL" -- "$@" || rc_pg=$?
fi

# --------------------------------------------------------------- Summary ----
echo "== Summary =="
echo "ruff:       exit $rc_lint"
echo "SQLite:     $([ "$rc_sqlite" = skipped ] && echo "skipped (GUANXI_TEST_DB=$GUANXI_TEST_DB)" || echo "exit $rc_sqlite")"
echo "PostgreSQL: $([ "$rc_pg" = skipped ] && echo "skipped (GUANXI_TEST_DB=$GUANXI_TEST_DB)" || echo "exit $rc_pg")"
echo "API fuzz SQLite:     $([ "$st_sqlite" = skipped ] && echo "skipped (GUANXI_TEST_DB=$GUANXI_TEST_DB)" || echo "exit $st_sqlite")"
echo "API fuzz PostgreSQL: $([ "$st_pg" = skipped ] && echo "skipped (GUANXI_TEST_DB=$GUANXI_TEST_DB)" || echo "exit $st_pg")"

status=0
for rc in "$rc_lint" "$rc_sqlite" "$rc_pg" "$st_sqlite" "$st_pg"; do
    if [ "$rc" != skipped ] && [ "$rc" != 0 ]; then
        status=1
    fi
done
if [ "$status" -eq 0 ]; then
    echo "OK"
else
    echo "FAILED"
fi
exit "$status"
