"""Typed settings read from the environment and plugins.toml, resolved once per process."""

from __future__ import annotations

import os
import secrets
import tomllib
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY_MIN = 32
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting in the environment is unusable; the message names the variable."""


def _default_path(env: str, name: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    return PROJECT_ROOT / name


@dataclass(frozen=True)
class Settings:
    database_url: str
    schema_dir: Path
    plugins_toml: Path
    database_schema: str | None = None  # PostgreSQL schema (search_path) to keep Guanxi's tables in
    default_locale: str = "zh-CN"
    plugin_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    column_budget: int = 300
    # Signs session and CSRF cookies (GUANXI_SECRET_KEY). When unset, secret_key_file holds
    # one generated on first use, so every worker of an install agrees; with neither (tests,
    # embedding) the key lives only as long as the process.
    secret_key: str | None = None
    secret_key_file: Path | None = None
    session_idle_minutes: int = 8 * 60  # a session unused this long ends
    session_days: int = 7  # and every session ends this long after login
    cookie_secure: bool = False  # GUANXI_COOKIE_SECURE=1 behind HTTPS: cookies only over TLS
    # Audit, history and access-log rows are purged after this many days; at least 183 (PERM-07).
    audit_retention_days: int = 365
    # Uploaded files (DATA-14): stored under random keys in this directory, at most this size.
    attachments_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "var" / "attachments")
    attachment_max_mb: int = 20
    # Background jobs (OPS-02): web workers run due jobs too unless GUANXI_JOBS_IN_WEB=0
    # (then `guanxi worker` processes do); a worker looks for due work this often.
    jobs_in_web: bool = True
    job_poll_seconds: int = 2
    # JSON API (API-01): request bodies above this are refused (413); requests per minute
    # per token (each worker process counts its own).
    api_max_body_kb: int = 1024
    api_rate_limit: int = 1200
    # Webhooks (API-03): private, loopback and link-local targets are refused unless allowed
    # (a CRM must not be turned into a probe of its own network); per-attempt timeout.
    webhook_allow_private: bool = False
    webhook_timeout_seconds: int = 10
    # Web forms (API-04): submissions per client IP per hour, and the largest body accepted.
    form_rate_limit: int = 30
    form_max_body_kb: int = 64
    # Operations (OPS-03): "json" (one object per line, with the request id) or "text" logs;
    # /metrics answers loopback clients and admins unless metrics_public.
    log_format: str = "json"
    metrics_public: bool = False
    # Sensitive fields (DATA-12) are encrypted with a key that never enters the database:
    # GUANXI_ENCRYPTION_KEY (base64 of 32 bytes), else the key ring file (created on first
    # use, mode 0600; `guanxi keys rotate` adds a key and re-encrypts).
    encryption_key: str | None = None
    encryption_key_file: Path | None = None
    # Backups (DATA-13): archives are written here; the daily job keeps this many days.
    backup_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "var" / "backups")
    backup_keep_days: int = 14
    backup_daily: bool = True
    # Imports (DATA-09): uploaded files wait here until their import finishes; largest upload.
    imports_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "var" / "imports")
    import_max_mb: int = 50

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        plugins_toml = overrides.pop("plugins_toml", None) or _default_path(
            "GUANXI_PLUGINS_TOML", "plugins.toml"
        )
        values: dict[str, Any] = {
            "database_url": os.environ.get("GUANXI_DATABASE_URL", "sqlite:///var/guanxi.db"),
            "database_schema": os.environ.get("GUANXI_DATABASE_SCHEMA") or None,
            "schema_dir": _default_path("GUANXI_SCHEMA_DIR", "schemas"),
            "plugins_toml": Path(plugins_toml),
            "plugin_config": read_plugins_toml(Path(plugins_toml)),
            "secret_key": _secret_key_from_env(),
            "secret_key_file": Path(os.environ.get("GUANXI_SECRET_KEY_FILE", "var/secret_key")),
            "session_idle_minutes": _positive_int("GUANXI_SESSION_IDLE_MINUTES", 8 * 60),
            "session_days": _positive_int("GUANXI_SESSION_DAYS", 7),
            "cookie_secure": _flag("GUANXI_COOKIE_SECURE", False),
            "audit_retention_days": _positive_int("GUANXI_AUDIT_RETENTION_DAYS", 365),
            "attachments_dir": _default_path("GUANXI_ATTACHMENTS_DIR", "var/attachments"),
            "attachment_max_mb": _positive_int("GUANXI_ATTACHMENT_MAX_MB", 20),
            "jobs_in_web": _flag("GUANXI_JOBS_IN_WEB", True),
            "job_poll_seconds": _positive_int("GUANXI_JOB_POLL_SECONDS", 2),
            "api_max_body_kb": _positive_int("GUANXI_API_MAX_BODY_KB", 1024),
            "api_rate_limit": _positive_int("GUANXI_API_RATE_LIMIT", 1200),
            "webhook_allow_private": _flag("GUANXI_WEBHOOK_ALLOW_PRIVATE", False),
            "webhook_timeout_seconds": _positive_int("GUANXI_WEBHOOK_TIMEOUT_SECONDS", 10),
            "form_rate_limit": _positive_int("GUANXI_FORM_RATE_LIMIT", 30),
            "form_max_body_kb": _positive_int("GUANXI_FORM_MAX_BODY_KB", 64),
            "log_format": _choice("GUANXI_LOG_FORMAT", ("json", "text"), "json"),
            "metrics_public": _flag("GUANXI_METRICS_PUBLIC", False),
            "encryption_key": os.environ.get("GUANXI_ENCRYPTION_KEY") or None,
            "encryption_key_file": _default_path(
                "GUANXI_ENCRYPTION_KEY_FILE", "var/encryption.keys"
            ),
            "backup_dir": _default_path("GUANXI_BACKUP_DIR", "var/backups"),
            "backup_keep_days": _positive_int("GUANXI_BACKUP_KEEP_DAYS", 14),
            "backup_daily": _flag("GUANXI_BACKUP_DAILY", True),
            "imports_dir": _default_path("GUANXI_IMPORTS_DIR", "var/imports"),
            "import_max_mb": _positive_int("GUANXI_IMPORT_MAX_MB", 50),
        }
        values.update(overrides)
        return cls(**values)

    def signing_key(self) -> str:
        """The key cookies are signed with (see secret_key)."""
        if self.secret_key:
            return self.secret_key
        if self.secret_key_file is not None:
            return read_or_create_secret(self.secret_key_file)
        return _PROCESS_SECRET


_PROCESS_SECRET = secrets.token_urlsafe(48)


def _secret_key_from_env() -> str | None:
    key = os.environ.get("GUANXI_SECRET_KEY") or None
    if key is not None and len(key) < SECRET_KEY_MIN:
        raise SettingsError(
            f"GUANXI_SECRET_KEY must be at least {SECRET_KEY_MIN} characters "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return key


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise SettingsError(f"{name} must be a positive whole number, not {raw!r}")
    return value


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise SettingsError(f"{name} must be 1/true/yes or 0/false/no, not {raw!r}")


def _choice(name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {raw!r}")
    return raw


def read_or_create_secret(path: Path) -> str:
    """The key in `path`, created once (mode 0600) if missing. Workers starting together may
    race: the key is written to a private temporary file and linked into place, so a reader
    sees either no file or the whole key, and exactly one writer wins."""
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with suppress(FileExistsError):  # another worker won the race: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < SECRET_KEY_MIN:
        raise SettingsError(f"{path}: the secret key must be at least {SECRET_KEY_MIN} characters")
    return key


def read_plugins_toml(path: Path) -> dict[str, dict[str, Any]]:
    """Return {plugin name: {"enabled": bool, "settings": {...}}}; a missing file enables all."""
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        document = tomllib.load(handle)
    plugins = document.get("plugins", {})
    if not isinstance(plugins, dict):
        raise ValueError(f"{path}: [plugins] must be a table")
    return {name: dict(entry) for name, entry in plugins.items()}
