"""Finding and running pg_dump / pg_restore: the client matching the server's major version,
connection details passed through the environment (PGPASSWORD, ...), never the command line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from guanxi.backup.errors import BackupError
from guanxi.store.db import normalize_url

PG_LIBDIR = Path("/usr/lib/postgresql")
# URL query parameters psycopg hands to libpq, and the variables pg_dump reads for them.
_QUERY_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "passfile": "PGPASSFILE",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "gssencmode": "PGGSSENCMODE",
}


def client_env(url: str, application: str) -> dict[str, str]:
    """The process environment plus the URL's host, port, user, password and database."""
    parsed = make_url(normalize_url(url))
    env = dict(os.environ)
    parts = {
        "PGHOST": parsed.host,
        "PGPORT": str(parsed.port) if parsed.port else None,
        "PGUSER": parsed.username,
        "PGPASSWORD": parsed.password,
        "PGDATABASE": parsed.database,
    }
    for key, variable in _QUERY_ENV.items():
        value = parsed.query.get(key)
        if isinstance(value, tuple):
            value = value[0] if value else None
        if value:
            parts[variable] = str(value)
    env.update({k: str(v) for k, v in parts.items() if v})
    env["PGAPPNAME"] = application
    return env


def tool_major(path: Path) -> int | None:
    """15 for "pg_dump (PostgreSQL) 15.18 (Debian ...)"; None if it will not say."""
    try:
        output = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return None
    match = re.search(r"\)\s+(\d+)(?:\.(\d+))?", output)
    return int(match.group(1)) if match else None


def find_tool(name: str, server_major: int) -> Path:
    """`name` from the server's own version directory, else PATH, else the newest installed
    version; it must be at least as new as the server (an older pg_dump refuses)."""
    candidates = [PG_LIBDIR / str(server_major) / "bin" / name]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    versions = sorted(
        (p for p in PG_LIBDIR.glob(f"*/bin/{name}")),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)] or [0],
        reverse=True,
    )
    candidates.extend(versions)
    found: list[tuple[Path, int | None]] = []
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            major = tool_major(candidate)
            if major is not None and major >= server_major:
                return candidate
            found.append((candidate, major))
    if found:
        shown = ", ".join(f"{p} ({m or '?'})" for p, m in found)
        raise BackupError(
            f"{name} is older than the PostgreSQL {server_major} server ({shown}); install "
            f"the client for version {server_major} (e.g. apt-get install "
            f"postgresql-client-{server_major})"
        )
    raise BackupError(
        f"{name} was not found on PATH or under {PG_LIBDIR}/*/bin; install the PostgreSQL "
        f"client tools (e.g. apt-get install postgresql-client-{server_major})"
    )


def run_tool(command: list[str], env: dict[str, str], what: str) -> str:
    """Run a client tool; its standard output, or a BackupError quoting its complaint."""
    with tempfile.TemporaryFile() as errors:
        try:
            result = subprocess.run(
                command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=errors, check=False,
            )  # fmt: skip
        except OSError as error:
            raise BackupError(f"could not run {command[0]}: {error}") from None
        if result.returncode != 0:
            errors.seek(0)
            raise BackupError(f"{what} failed: {tail(errors.read())}")
    return result.stdout.decode("utf-8", "replace")


def tail(raw: bytes, limit: int = 2000) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def quoted_pattern(schema: str) -> str:
    """A -n pattern matching exactly this schema name (quotes make * ? . literal)."""
    return '"' + schema.replace('"', '""') + '"'


def conninfo_dbname(url: str) -> str:
    """`--dbname` for pg_restore: only the database name; the rest comes from the env."""
    name = make_url(normalize_url(url)).database or ""
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"
