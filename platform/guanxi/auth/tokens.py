"""API tokens (PERM-09, API-01): "gx_<prefix>_<secret>" shown once at creation; the database
keeps the SHA-256 and the prefix (to tell tokens apart in a list), never the token itself. A
token may be narrowed to some modules and to reading only (carried as Actor.token_scope)."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor, TokenScope
from guanxi.auth import audit, version
from guanxi.auth.identity import load_actor
from guanxi.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.store.system_tables import api_token, user

if TYPE_CHECKING:
    from guanxi.core import Guanxi

# last_seen_at / last_used_at are refreshed at most this often: no write per request.
TOUCH_EVERY = timedelta(minutes=1)
TOKEN_NAME_MAX = 100
# A resolved token is reused while the auth version is unchanged (revoking a token, deactivating
# its user or changing their roles bumps it) and for at most this long (the user's own language
# choice does not bump it).
CACHE_SECONDS = 60.0
CACHE_MAX = 4096
_TOKEN_SHAPE = re.compile(r"gx_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")
_LISTED = (
    api_token.c.id,
    api_token.c.user_id,
    api_token.c.name,
    api_token.c.prefix,
    api_token.c.created_at,
    api_token.c.last_used_at,
    api_token.c.expires_at,
    api_token.c.revoked_at,
    api_token.c.modules,
    api_token.c.read_only,
)


def digest(secret: str) -> str:
    """What the database keeps of a session or API token: its SHA-256, never the token."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A new token; `token` is the only copy there will ever be."""

    id: int
    token: str = field(repr=False)  # never in logs or tracebacks
    prefix: str
    name: str
    expires_at: datetime | None
    modules: tuple[str, ...] | None = None
    read_only: bool = False


@dataclass
class _Resolved:
    """A live token as last read: reused while the auth version stands (see CACHE_SECONDS)."""

    actor: Actor
    token_id: int
    expires_at: datetime | None
    last_used_at: datetime | None
    auth_version: int
    loaded: float


def check_token_scope(scope: TokenScope, entity: EntityDef, action: str) -> None:
    """Raise PermissionDenied when a narrowed token may not do `action` on `entity` (API-01);
    the record reader calls this where every read and write opens its module."""
    if not scope.allows_module(entity.name):
        raise PermissionDenied(
            _("This API token may not use {entity} records", entity=entity.label),
            code="token_scope",
        )
    if not scope.allows(entity.name, action):
        raise PermissionDenied(
            _(
                "This API token is read-only: it may not change {entity} records",
                entity=entity.label,
            ),
            code="token_read_only",
        )


class ApiTokens:
    """Storage and lookup; LoginService checks who may manage whose tokens."""

    def __init__(self, platform: Guanxi) -> None:
        self.platform = platform
        self.db = platform.db
        self._resolved: dict[str, _Resolved] = {}
        self._lock = threading.Lock()

    def create(
        self,
        actor: Actor,
        user_id: int,
        name: str,
        expires_at: datetime | None = None,
        *,
        modules: Iterable[str] | None = None,
        read_only: bool = False,
    ) -> IssuedToken:
        clean_name = name.strip() if isinstance(name, str) else ""
        problems = []
        narrowed_to, module_problems = self._check_modules(modules)
        problems += module_problems
        if not isinstance(read_only, bool):
            problems.append(FieldError("read_only", "type", _("read_only must be true or false")))
        if not clean_name:
            problems.append(FieldError("name", "required", _("Give the token a name")))
        elif len(clean_name) > TOKEN_NAME_MAX:
            problems.append(
                FieldError(
                    "name",
                    "too_long",
                    _("A token name has at most {n} characters", n=TOKEN_NAME_MAX),
                )
            )
        if expires_at is not None:
            expires_at = clock.to_utc(expires_at) if expires_at.tzinfo else expires_at
            if expires_at <= clock.now_utc():
                problems.append(
                    FieldError("expires_at", "in_past", _("The expiry must be in the future"))
                )
        if problems:
            raise ValidationFailed(problems)
        prefix = secrets.token_hex(4)
        token = f"gx_{prefix}_{secrets.token_urlsafe(32)}"
        with self.db.unit_of_work() as connection:
            if connection.execute(sa.select(user.c.id).where(user.c.id == user_id)).first() is None:
                raise NotFound(_("No such user"))
            token_id = int(
                connection.execute(
                    sa.insert(api_token)
                    .values(
                        user_id=user_id,
                        name=clean_name,
                        token_hash=digest(token),
                        prefix=prefix,
                        created_at=clock.now_utc(),
                        expires_at=expires_at,
                        modules=list(narrowed_to) if narrowed_to is not None else None,
                        read_only=read_only,
                    )
                    .returning(api_token.c.id)
                ).scalar_one()
            )
            audit.write(
                connection,
                actor,
                "token",
                f"token:{token_id}",
                {
                    "user_id": user_id,
                    "name": clean_name,
                    "prefix": prefix,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                    "modules": list(narrowed_to) if narrowed_to is not None else None,
                    "read_only": read_only,
                },
            )
        return IssuedToken(token_id, token, prefix, clean_name, expires_at, narrowed_to, read_only)

    def _check_modules(
        self, modules: Iterable[str] | None
    ) -> tuple[tuple[str, ...] | None, list[FieldError]]:
        """The modules a token is narrowed to, sorted; each must be a module that exists now."""
        if modules is None:
            return None, []
        if isinstance(modules, str) or not all(isinstance(m, str) for m in modules):
            return None, [
                FieldError("modules", "type", _("modules must be a list of module names"))
            ]
        names = tuple(sorted({m.strip() for m in modules}))
        if not names:
            return None, [
                FieldError(
                    "modules",
                    "required",
                    _("Name at least one module, or leave modules out for all of them"),
                )
            ]
        known = self.platform.registry.snapshot().entities
        problems = [
            FieldError("modules", "unknown_module", _("Unknown module '{name}'", name=name))
            for name in names
            if name not in known
        ]
        return names, problems

    def of_user(self, user_id: int, *, include_revoked: bool = False) -> list[dict[str, Any]]:
        query = sa.select(*_LISTED).where(api_token.c.user_id == user_id)
        if not include_revoked:
            query = query.where(api_token.c.revoked_at.is_(None))
        with self.db.read() as connection:
            return [dict(r._mapping) for r in connection.execute(query.order_by(api_token.c.id))]

    def owner(self, token_id: int) -> int | None:
        with self.db.read() as connection:
            found = connection.execute(
                sa.select(api_token.c.user_id).where(api_token.c.id == token_id)
            ).scalar()
        return int(found) if found is not None else None

    def revoke(self, actor: Actor, token_id: int) -> None:
        with self.db.unit_of_work() as connection:
            revoked = connection.execute(
                sa.update(api_token)
                .where(api_token.c.id == token_id, api_token.c.revoked_at.is_(None))
                .values(revoked_at=clock.now_utc())
            ).rowcount
            if revoked:
                audit.write(connection, actor, "token", f"token:{token_id}", {"revoked": True})
                # Every worker drops its cached token look-ups on its next request.
                version.bump(connection)

    def actor(self, bearer: str | None, ip: str | None = None) -> Actor | None:
        """The Actor a live token acts as (with its TokenScope); None for anything else.
        Runs on every API request: a token seen before costs one primary-key read (the auth
        version) until that version changes; last_used_at is written at most once a minute."""
        if not bearer or not _TOKEN_SHAPE.fullmatch(bearer):
            return None
        now = clock.now_utc()
        token_hash = digest(bearer)
        with self.db.read() as connection:
            auth_version = version.versions(connection)[1]
            resolved = self._resolved.get(token_hash)
            if (
                resolved is None
                or resolved.auth_version != auth_version
                or time.monotonic() - resolved.loaded >= CACHE_SECONDS
            ):
                resolved = self._load(connection, token_hash, auth_version)
        if resolved is None or (resolved.expires_at is not None and now >= resolved.expires_at):
            return None
        if resolved.last_used_at is None or now - resolved.last_used_at >= TOUCH_EVERY:
            resolved.last_used_at = now
            with self.db.unit_of_work() as connection:
                connection.execute(
                    sa.update(api_token)
                    .where(api_token.c.id == resolved.token_id)
                    .values(last_used_at=now)
                )
        return resolved.actor if resolved.actor.ip == ip else resolved.actor.from_ip(ip)

    def _load(self, connection: Any, token_hash: str, auth_version: int) -> _Resolved | None:
        row = connection.execute(
            sa.select(
                api_token.c.id,
                api_token.c.user_id,
                api_token.c.last_used_at,
                api_token.c.expires_at,
                api_token.c.revoked_at,
                api_token.c.modules,
                api_token.c.read_only,
            ).where(api_token.c.token_hash == token_hash)
        ).first()
        found = (
            load_actor(connection, row.user_id) if row is not None and not row.revoked_at else None
        )
        with self._lock:
            if found is None:
                self._resolved.pop(token_hash, None)
                return None
            scope = TokenScope(
                row.id,
                frozenset(row.modules) if row.modules is not None else None,
                bool(row.read_only),
            )
            resolved = _Resolved(
                replace(found, token_scope=scope),
                row.id,
                row.expires_at,
                row.last_used_at,
                auth_version,
                time.monotonic(),
            )
            if len(self._resolved) >= CACHE_MAX:
                self._resolved.clear()
            self._resolved[token_hash] = resolved
        return resolved
