"""API tokens (PERM-09): "gx_<prefix>_<secret>" shown once at creation; the database keeps the
SHA-256 and the prefix (to tell tokens apart in a list), never the token itself."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import audit
from guanxi.auth.identity import load_actor
from guanxi.errors import FieldError, NotFound, ValidationFailed
from guanxi.i18n import _
from guanxi.store.system_tables import api_token, user

if TYPE_CHECKING:
    from guanxi.core import Guanxi

# last_seen_at / last_used_at are refreshed at most this often: no write per request.
TOUCH_EVERY = timedelta(minutes=1)
TOKEN_NAME_MAX = 100
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


class ApiTokens:
    """Storage and lookup; LoginService checks who may manage whose tokens."""

    def __init__(self, platform: Guanxi) -> None:
        self.db = platform.db

    def create(
        self, actor: Actor, user_id: int, name: str, expires_at: datetime | None = None
    ) -> IssuedToken:
        clean_name = name.strip() if isinstance(name, str) else ""
        problems = []
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
                },
            )
        return IssuedToken(token_id, token, prefix, clean_name, expires_at)

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

    def actor(self, bearer: str | None, ip: str | None = None) -> Actor | None:
        """The Actor a live token acts as; None for anything else."""
        if not bearer or not _TOKEN_SHAPE.fullmatch(bearer):
            return None
        now = clock.now_utc()
        with self.db.read() as connection:
            row = connection.execute(
                sa.select(
                    api_token.c.id,
                    api_token.c.user_id,
                    api_token.c.last_used_at,
                    api_token.c.expires_at,
                    api_token.c.revoked_at,
                ).where(api_token.c.token_hash == digest(bearer))
            ).first()
            if (
                row is None
                or row.revoked_at is not None
                or (row.expires_at is not None and now >= row.expires_at)
            ):
                return None
            found = load_actor(connection, row.user_id, ip=ip)
        if found is not None and (
            row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY
        ):
            with self.db.unit_of_work() as connection:
                connection.execute(
                    sa.update(api_token).where(api_token.c.id == row.id).values(last_used_at=now)
                )
        return found
