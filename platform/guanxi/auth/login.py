"""Logins and server-side sessions (PERM-09): argon2id passwords, lockout with backoff after
repeated failures, sessions that idle out and end, revocation on logout and password change.
Every login, failed or not, leaves an audit row in the transaction that records it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from itsdangerous import BadSignature, Signer
from sqlalchemy.engine import Connection, Row

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import audit
from guanxi.auth.identity import USERNAME_MAX, load_actor
from guanxi.auth.passwords import HASHER, MAX_LENGTH, check_policy, hash_password, verify_password
from guanxi.auth.tokens import TOUCH_EVERY, ApiTokens, IssuedToken, digest
from guanxi.errors import FieldError, GuanxiError, NotFound, ValidationFailed
from guanxi.i18n import _
from guanxi.store.system_tables import session, user

if TYPE_CHECKING:
    from guanxi.core import Guanxi

MAX_FAILURES = 5
FIRST_LOCK = timedelta(minutes=15)
LONGEST_LOCK = timedelta(hours=24)
USER_AGENT_MAX = 300


class LoginFailed(GuanxiError):
    """Unknown user, wrong password or inactive account: deliberately one message for all."""

    status = 401
    code = "login_failed"

    def __init__(self) -> None:
        super().__init__(_("Wrong user name or password"))


class AccountLocked(GuanxiError):
    status = 429
    code = "account_locked"

    def __init__(self, until: datetime) -> None:
        self.until = until
        local = clock.to_local(until).strftime("%Y-%m-%d %H:%M")
        super().__init__(
            _(
                "Too many failed logins: the account is locked, try again after {time}",
                time=local,
            )
        )


def lock_duration(failures: int) -> timedelta:
    """15 minutes at the fifth failure in a row, doubling with each further one, at most 24 h."""
    doublings = min(max(failures - MAX_FAILURES, 0), 16)
    return min(FIRST_LOCK * (2**doublings), LONGEST_LOCK)


def _is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and locked_until > now


class LoginService:
    """platform.login: log in and out, resolve session cookies and API tokens, set passwords."""

    def __init__(self, platform: Guanxi, *, hasher: PasswordHasher = HASHER) -> None:
        self.platform = platform
        self.db = platform.db
        self.settings = platform.settings
        self.hasher = hasher
        self.tokens = ApiTokens(platform)

    # -- cookies -------------------------------------------------------------------------

    @cached_property
    def _signing_key(self) -> str:
        # Resolved on first use, so `guanxi check` and tests never create var/secret_key.
        return self.settings.signing_key()

    def signer(self, purpose: str) -> Signer:
        """An HMAC-SHA256 signer bound to one purpose (session, login form, ...)."""
        return Signer(self._signing_key, salt=f"guanxi.{purpose}", digest_method=hashlib.sha256)

    def _cookie_token(self, cookie_value: str | None) -> str | None:
        if not cookie_value or len(cookie_value) > 200:
            return None
        try:
            return self.signer("session").unsign(cookie_value).decode()
        except (BadSignature, UnicodeError):
            return None

    @property
    def idle_timeout(self) -> timedelta:
        return timedelta(minutes=self.settings.session_idle_minutes)

    @property
    def lifetime(self) -> timedelta:
        return timedelta(days=self.settings.session_days)

    # -- login ---------------------------------------------------------------------------

    def login(
        self,
        username: str,
        password: str,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> tuple[str, Actor]:
        """(signed session token for the cookie, Actor); LoginFailed or AccountLocked."""
        # One past the longest user name: matches nobody, and keeps hostile input short.
        name = username.strip()[: USERNAME_MAX + 1] if isinstance(username, str) else ""
        agent = (user_agent or "")[:USER_AGENT_MAX] or None
        now = clock.now_utc()
        with self.db.read() as connection:
            row = connection.execute(
                sa.select(
                    user.c.id, user.c.active, user.c.password_hash, user.c.locked_until
                ).where(user.c.username == name)
            ).first()
        if row is not None and _is_locked(row.locked_until, now):
            self._record_failure(row, name, ip, agent, "locked")
            raise AccountLocked(row.locked_until)
        if not isinstance(password, str) or len(password) > MAX_LENGTH:
            password = ""
        ok, new_hash = verify_password(row.password_hash if row else None, password, self.hasher)
        if row is None or not ok or not row.active:
            reason = "unknown_user" if row is None else ("wrong_password" if not ok else "inactive")
            locked_until = self._record_failure(row, name, ip, agent, reason)
            if locked_until is not None:
                raise AccountLocked(locked_until)
            raise LoginFailed()
        token = secrets.token_urlsafe(32)
        with self.db.unit_of_work() as connection:
            opened = self._open_session(connection, row, token, new_hash, ip, agent)
        if isinstance(opened, datetime):  # locked by a concurrent failure while we verified
            self._record_failure(row, name, ip, agent, "locked")
            raise AccountLocked(opened)
        if opened is None:
            self._record_failure(row, name, ip, agent, "inactive")
            raise LoginFailed()
        return self.signer("session").sign(token).decode(), opened

    def _open_session(
        self,
        connection: Connection,
        row: Row[Any],
        token: str,
        new_hash: str | None,
        ip: str | None,
        agent: str | None,
    ) -> Actor | datetime | None:
        now = clock.now_utc()
        reset = connection.execute(
            sa.update(user)
            .where(
                user.c.id == row.id,
                sa.or_(user.c.locked_until.is_(None), user.c.locked_until <= now),
            )
            .values(failed_logins=0, locked_until=None, last_login_at=now)
        )
        if reset.rowcount == 0:
            return connection.execute(
                sa.select(user.c.locked_until).where(user.c.id == row.id)
            ).scalar()
        if new_hash is not None:  # unless the password changed meanwhile
            connection.execute(
                sa.update(user)
                .where(user.c.id == row.id, user.c.password_hash == row.password_hash)
                .values(password_hash=new_hash)
            )
        actor = load_actor(connection, row.id, ip=ip)
        if actor is None:
            return None
        connection.execute(
            sa.delete(session).where(session.c.user_id == row.id, session.c.expires_at < now)
        )
        session_id = connection.execute(
            sa.insert(session)
            .values(
                token_hash=digest(token),
                user_id=row.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                expires_at=now + self.lifetime,
                ip=ip,
                user_agent=agent,
            )
            .returning(session.c.id)
        ).scalar_one()
        audit.write(
            connection,
            actor,
            "login",
            f"user:{row.id}",
            {"result": "success", "session": session_id, "user_agent": agent},
        )
        return actor

    def _record_failure(
        self,
        row: Row[Any] | None,
        attempted: str,
        ip: str | None,
        agent: str | None,
        reason: str,
    ) -> datetime | None:
        """Count a wrong password (locking at MAX_FAILURES) and audit; the new lock, if any."""
        now = clock.now_utc()
        failures: int | None = None
        locked_until: datetime | None = None
        with self.db.unit_of_work() as connection:
            if row is not None and reason in ("wrong_password", "wrong_current_password"):
                failures = int(
                    connection.execute(
                        sa.update(user)
                        .where(user.c.id == row.id)
                        .values(failed_logins=user.c.failed_logins + 1)
                        .returning(user.c.failed_logins)
                    ).scalar_one()
                )
                if failures >= MAX_FAILURES:
                    locked_until = now + lock_duration(failures)
                    connection.execute(
                        sa.update(user).where(user.c.id == row.id).values(locked_until=locked_until)
                    )
            audit.write(
                connection,
                Actor(user_id=None, username=attempted[:64], ip=ip),
                "login",
                f"user:{row.id}" if row is not None else f"username:{attempted[:64]}",
                {
                    "result": reason,
                    "failed_logins": failures,
                    "locked_until": locked_until.isoformat() if locked_until else None,
                    "user_agent": agent,
                },
            )
        return locked_until

    # -- sessions ------------------------------------------------------------------------

    def session_actor(
        self, cookie_value: str | None, ip: str | None = None
    ) -> tuple[Actor, str] | None:
        """(Actor, CSRF token) of a live session cookie; None if forged, ended or revoked."""
        token = self._cookie_token(cookie_value)
        if token is None:
            return None
        now = clock.now_utc()
        with self.db.read() as connection:
            row = connection.execute(
                sa.select(
                    session.c.id,
                    session.c.user_id,
                    session.c.csrf_token,
                    session.c.last_seen_at,
                    session.c.expires_at,
                    session.c.revoked_at,
                ).where(session.c.token_hash == digest(token))
            ).first()
            if (
                row is None
                or row.revoked_at is not None
                or now >= row.expires_at
                or now - row.last_seen_at >= self.idle_timeout
            ):
                return None
            actor = load_actor(connection, row.user_id, ip=ip)
        if actor is None:
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            with self.db.unit_of_work() as connection:
                connection.execute(
                    sa.update(session)
                    .where(session.c.id == row.id, session.c.last_seen_at < now)
                    .values(last_seen_at=now)
                )
        return actor, row.csrf_token

    def logout(self, cookie_value: str | None, ip: str | None = None) -> bool:
        """Revoke the session server-side: the cookie stops working even if kept."""
        token = self._cookie_token(cookie_value)
        if token is None:
            return False
        with self.db.unit_of_work() as connection:
            row = connection.execute(
                sa.select(session.c.id, session.c.user_id, user.c.username)
                .join(user, user.c.id == session.c.user_id)
                .where(session.c.token_hash == digest(token), session.c.revoked_at.is_(None))
            ).first()
            if row is None:
                return False
            connection.execute(
                sa.update(session).where(session.c.id == row.id).values(revoked_at=clock.now_utc())
            )
            audit.write(
                connection,
                Actor(user_id=row.user_id, username=row.username, ip=ip),
                "session",
                f"session:{row.id}",
                {"result": "logout"},
            )
        return True

    def revoke_sessions(self, actor: Actor, user_id: int) -> int:
        """End every session of a user (own, or anyone's for an admin); how many ended."""
        self._check_self_or_admin(actor, user_id)
        with self.db.unit_of_work() as connection:
            if connection.execute(sa.select(user.c.id).where(user.c.id == user_id)).first() is None:
                raise NotFound(_("No such user"))
            ended = _revoke_all(connection, user_id)
            audit.write(
                connection, actor, "session", f"user:{user_id}", {"sessions_revoked": ended}
            )
        return ended

    # -- passwords -----------------------------------------------------------------------

    def set_password(
        self,
        actor: Actor,
        user_id: int,
        new_password: str,
        current_password: str | None = None,
    ) -> int:
        """Set a password and end every session of the user; how many sessions ended.

        A user changes their own password with the current one; an admin resets anyone's.
        """
        with self.db.read() as connection:
            row = connection.execute(
                sa.select(
                    user.c.id, user.c.username, user.c.password_hash, user.c.locked_until
                ).where(user.c.id == user_id)
            ).first()
        if row is None:
            raise NotFound(_("No such user"))
        own = actor.user_id == user_id and not actor.is_system
        if own:
            self._check_current_password(actor, row, current_password, new_password)
        else:
            self.platform.authorizer.check_admin(actor)
        check_policy(new_password, row.username)
        new_hash = hash_password(new_password, self.hasher)
        now = clock.now_utc()
        with self.db.unit_of_work() as connection:
            connection.execute(
                sa.update(user)
                .where(user.c.id == user_id)
                .values(
                    password_hash=new_hash,
                    password_changed_at=now,
                    failed_logins=0,
                    locked_until=None,
                )
            )
            ended = _revoke_all(connection, user_id)
            audit.write(
                connection,
                actor,
                "user",
                f"user:{user_id}",
                {"password": "changed" if own else "reset", "sessions_revoked": ended},
            )
        return ended

    def _check_current_password(
        self, actor: Actor, row: Row[Any], current: str | None, new_password: str
    ) -> None:
        if _is_locked(row.locked_until, clock.now_utc()):
            raise AccountLocked(row.locked_until)
        ok, _rehash = verify_password(row.password_hash, current or "", self.hasher)
        if not ok:
            locked_until = self._record_failure(
                row, row.username, actor.ip, None, "wrong_current_password"
            )
            if locked_until is not None:
                raise AccountLocked(locked_until)
            raise ValidationFailed(
                [
                    FieldError(
                        "current_password",
                        "wrong_password",
                        _("The current password is not correct"),
                    )
                ]
            )
        if new_password == current:
            raise ValidationFailed(
                [
                    FieldError(
                        "password",
                        "unchanged",
                        _("The new password must differ from the current one"),
                    )
                ]
            )

    def unlock(self, actor: Actor, user_id: int) -> None:
        """An admin lifts a lockout before it runs out."""
        self.platform.authorizer.check_admin(actor)
        with self.db.unit_of_work() as connection:
            changed = connection.execute(
                sa.update(user)
                .where(user.c.id == user_id)
                .values(failed_logins=0, locked_until=None)
            ).rowcount
            if not changed:
                raise NotFound(_("No such user"))
            audit.write(connection, actor, "user", f"user:{user_id}", {"locked_until": None})

    def _check_self_or_admin(self, actor: Actor, user_id: int) -> None:
        if actor.is_system or actor.user_id != user_id:
            self.platform.authorizer.check_admin(actor)

    # -- API tokens (guanxi.auth.tokens) ----------------------------------------------------

    def create_token(
        self,
        actor: Actor,
        user_id: int,
        name: str,
        expires_at: datetime | None = None,
        **narrowing: Any,
    ) -> IssuedToken:
        """`narrowing`: modules=[...] and/or read_only=True (see ApiTokens.create)."""
        self._check_self_or_admin(actor, user_id)
        return self.tokens.create(actor, user_id, name, expires_at, **narrowing)

    def list_tokens(
        self, actor: Actor, user_id: int, *, include_revoked: bool = False
    ) -> list[dict[str, Any]]:
        self._check_self_or_admin(actor, user_id)
        return self.tokens.of_user(user_id, include_revoked=include_revoked)

    def revoke_token(self, actor: Actor, token_id: int) -> None:
        owner = self.tokens.owner(token_id)
        if owner is None:
            raise NotFound(_("No such API token"))
        self._check_self_or_admin(actor, owner)
        self.tokens.revoke(actor, token_id)

    def token_actor(self, bearer: str | None, ip: str | None = None) -> Actor | None:
        return self.tokens.actor(bearer, ip)


def _revoke_all(connection: Connection, user_id: int) -> int:
    return int(
        connection.execute(
            sa.update(session)
            .where(session.c.user_id == user_id, session.c.revoked_at.is_(None))
            .values(revoked_at=clock.now_utc())
        ).rowcount
    )
