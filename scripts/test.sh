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

stop_pytest_group() {
    [ -n "$PYTEST_PGID" ] || return 0
    local pgid=$PYTEST_PGID _
    PYTEST_PGID=""
    kill -TERM -- "-$pgid" 2>/dev/null || return 0
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 -- "-$pgid" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
}

# Whatever happens (error, Ctrl-C, kill), stop pytest leftovers and the
# cluster, and remove the cluster's temp dir.
# shellcheck disable=SC2329  # invoked by the traps below
on_exit() {
    local rc=$?
    trap - INT TERM HUP
    stop_pytest_group
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

# ----------------------------------------------------------------- Tests ----
command -v setsid >/dev/null 2>&1 || die "setsid (util-linux) not found"

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

status=0
for rc in "$rc_lint" "$rc_sqlite" "$rc_pg"; do
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
