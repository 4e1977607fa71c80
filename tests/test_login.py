"""Login security at the service level (PERM-09): argon2id hashes, the password policy,
lockout with backoff, sessions that idle out, end and are revoked, and API tokens."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.auth.login import AccountLocked, LoginFailed, lock_duration
from guanxi.auth.passwords import check_policy, hash_password, policy_errors
from guanxi.core import Guanxi
from guanxi.errors import PermissionDenied, ValidationFailed
from guanxi.settings import Settings, SettingsError, read_or_create_secret
from guanxi.store.system_tables import api_token, audit, session, user

PASSWORD = "绿茶-Longjing-2024"
NEW_PASSWORD = "铁观音-Anxi-1725"


class FakeClock:
    """Stands in for guanxi.clock.now_utc so lockouts and timeouts can be stepped through."""

    def __init__(self) -> None:
        self.now = datetime(2030, 3, 1, 2, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(clock, "now_utc", fake)
    return fake


def add_user(platform: Guanxi, username: str = "li.lei", password: str = PASSWORD) -> int:
    return identity.create_user(
        platform.db, username, "李雷", password_hash=hash_password(password)
    )


def add_admin(platform: Guanxi, username: str = "boss") -> int:
    user_id = add_user(platform, username)
    platform.permissions.assign_role(Actor.system(), user_id, "admin")
    return user_id


def user_row(platform: Guanxi, user_id: int) -> Any:
    with platform.db.read() as connection:
        return connection.execute(sa.select(user).where(user.c.id == user_id)).one()


def login_audit(platform: Guanxi) -> list[dict[str, Any]]:
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(audit).where(audit.c.kind == "login").order_by(audit.c.id)
        )
        return [dict(r._mapping) for r in rows]


# -- passwords ------------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2id(platform: Guanxi) -> None:  # PERM-09
    user_id = add_user(platform)
    stored = user_row(platform, user_id).password_hash
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored
    _cookie, actor = platform.login.login("li.lei", PASSWORD, "10.0.0.1", "pytest")
    assert actor.user_id == user_id and actor.ip == "10.0.0.1"


def test_a_hash_with_old_parameters_is_upgraded_at_the_next_login(
    platform: Guanxi,
) -> None:  # PERM-09: transparent rehash
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user_id = identity.create_user(platform.db, "han.meimei", "韩梅梅", password_hash=weak)
    platform.login.login("han.meimei", PASSWORD)
    upgraded = user_row(platform, user_id).password_hash
    assert upgraded != weak and upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    _cookie, actor = platform.login.login("han.meimei", PASSWORD)
    assert actor.username == "han.meimei"


@pytest.mark.parametrize(
    ("password", "codes"),
    [
        ("short1!", {"too_short"}),
        ("li.lei-2024-spring", {"contains_username"}),
        ("aaaaaaaaaaaa", {"repetitive"}),
        ("ababababab", {"repetitive"}),
        ("Password123", {"common"}),
        ("qwertyuiop", {"common"}),
        ("", {"required"}),
        ("x" * 1025, {"too_long", "repetitive"}),
    ],
)
def test_weak_passwords_are_refused_naming_the_field(
    password: str, codes: set[str]
) -> None:  # PERM-09
    with pytest.raises(ValidationFailed) as refused:
        check_policy(password, "li.lei")
    assert refused.value.fields() == {"password"}
    assert {e.code for e in refused.value.errors} == codes


def test_policy_messages_are_in_chinese_and_english() -> None:  # PERM-09
    [error] = policy_errors("short1!", "li.lei")
    assert error.to_dict("en")["message"] == "The password needs at least 10 characters"
    assert error.to_dict("zh-CN")["message"] == "密码至少需要 10 个字符"
    assert policy_errors(PASSWORD, "li.lei") == []


# -- login and lockout ----------------------------------------------------------------------


def test_unknown_user_wrong_password_and_inactive_user_get_one_answer(
    platform: Guanxi,
) -> None:  # PERM-09: a login never tells which part was wrong
    user_id = add_user(platform)
    add_user(platform, "wang.fang")
    identity.update_user(platform.db, user_id, active=False)
    answers = []
    for username, password in [
        ("nobody", PASSWORD),
        ("wang.fang", "not the password"),
        ("li.lei", PASSWORD),
    ]:
        with pytest.raises(LoginFailed) as failed:
            platform.login.login(username, password, "10.0.0.9")
        answers.append((failed.value.status, failed.value.message.render("zh-CN")))
    assert answers == [(401, "用户名或密码错误")] * 3
    audited = login_audit(platform)
    assert [row["changes"]["result"] for row in audited] == [
        "unknown_user",
        "wrong_password",
        "inactive",
    ]
    assert all(row["ip"] == "10.0.0.9" for row in audited)


def test_success_is_audited_with_the_user_and_address(platform: Guanxi) -> None:  # PERM-09
    user_id = add_user(platform)
    platform.login.login("li.lei", PASSWORD, "192.168.1.20", "Firefox")
    [row] = login_audit(platform)
    assert (row["actor_id"], row["actor_name"], row["ip"]) == (user_id, "li.lei", "192.168.1.20")
    assert row["target"] == f"user:{user_id}"
    assert row["changes"]["result"] == "success"
    assert row["changes"]["user_agent"] == "Firefox"
    assert user_row(platform, user_id).last_login_at is not None


def test_five_failures_lock_the_account_even_against_the_right_password(
    platform: Guanxi, fake_clock: FakeClock
) -> None:  # PERM-09
    user_id = add_user(platform)
    for _attempt in range(4):
        with pytest.raises(LoginFailed):
            platform.login.login("li.lei", "wrong password!")
    with pytest.raises(AccountLocked) as locked:
        platform.login.login("li.lei", "wrong password!")
    assert locked.value.until == fake_clock.now + timedelta(minutes=15)
    local = clock.to_local(locked.value.until).strftime("%Y-%m-%d %H:%M")
    assert locked.value.message.render("en") == (
        f"Too many failed logins: the account is locked, try again after {local}"
    )
    assert (
        locked.value.message.render("zh-CN")
        == f"登录失败次数过多，账号已锁定，请于 {local} 之后再试"
    )
    fake_clock.advance(minutes=14)
    with pytest.raises(AccountLocked):
        platform.login.login("li.lei", PASSWORD)
    assert user_row(platform, user_id).failed_logins == 5  # attempts while locked do not count
    assert login_audit(platform)[-1]["changes"]["result"] == "locked"


def test_a_lock_runs_out_then_doubles_on_the_next_failure(
    platform: Guanxi, fake_clock: FakeClock
) -> None:  # PERM-09: backoff
    user_id = add_user(platform)
    for _attempt in range(5):
        with pytest.raises((LoginFailed, AccountLocked)):
            platform.login.login("li.lei", "wrong password!")
    fake_clock.advance(minutes=15, seconds=1)
    with pytest.raises(AccountLocked) as locked:
        platform.login.login("li.lei", "wrong again!!")
    assert locked.value.until == fake_clock.now + timedelta(minutes=30)
    fake_clock.advance(minutes=30, seconds=1)
    _cookie, actor = platform.login.login("li.lei", PASSWORD)
    assert actor.user_id == user_id
    after = user_row(platform, user_id)
    assert (after.failed_logins, after.locked_until) == (0, None)


def test_lock_durations_double_up_to_a_day() -> None:  # PERM-09
    assert [lock_duration(n) for n in (5, 6, 7)] == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
    ]
    assert lock_duration(12) == lock_duration(1000) == timedelta(hours=24)


def test_a_success_resets_the_failure_count(platform: Guanxi) -> None:  # PERM-09
    user_id = add_user(platform)
    for _attempt in range(4):
        with pytest.raises(LoginFailed):
            platform.login.login("li.lei", "wrong password!")
    platform.login.login("li.lei", PASSWORD)
    assert user_row(platform, user_id).failed_logins == 0
    for _attempt in range(4):
        with pytest.raises(LoginFailed):
            platform.login.login("li.lei", "wrong password!")
    _cookie, actor = platform.login.login("li.lei", PASSWORD)
    assert actor.username == "li.lei"


def test_an_admin_can_lift_a_lock(platform: Guanxi) -> None:  # PERM-09
    user_id = add_user(platform)
    for _attempt in range(5):
        with pytest.raises((LoginFailed, AccountLocked)):
            platform.login.login("li.lei", "wrong password!")
    with pytest.raises(PermissionDenied):
        platform.login.unlock(Actor(user_id=user_id, username="li.lei"), user_id)
    platform.login.unlock(Actor.system(), user_id)
    assert platform.login.login("li.lei", PASSWORD)[1].user_id == user_id


# -- sessions -------------------------------------------------------------------------------


def test_the_cookie_is_signed_and_the_database_keeps_only_a_hash(
    make_platform: Any,
) -> None:  # PERM-09
    platform = make_platform(secret_key="this install's key, long enough to be accepted")
    user_id = add_user(platform)
    cookie, _actor = platform.login.login("li.lei", PASSWORD)
    token, _sep, _signature = cookie.rpartition(".")
    with platform.db.read() as connection:
        row = connection.execute(sa.select(session)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(v) for v in row._mapping.values()}
    found = platform.login.session_actor(cookie, "10.1.1.1")
    assert found is not None
    actor, csrf_token = found
    assert (actor.user_id, actor.ip, csrf_token) == (user_id, "10.1.1.1", row.csrf_token)
    assert platform.login.session_actor(token + ".forged") is None
    assert platform.login.session_actor(token) is None
    same_key = make_platform(secret_key="this install's key, long enough to be accepted")
    assert same_key.login.session_actor(cookie) is not None  # another worker of the install
    other_key = make_platform(secret_key="another install's key, long enough to be accepted")
    assert other_key.login.session_actor(cookie) is None


def test_a_session_ends_after_idling_and_after_its_lifetime(
    make_platform: Any, fake_clock: FakeClock
) -> None:  # PERM-09
    platform = make_platform(session_idle_minutes=30, session_days=1)
    add_user(platform)
    cookie, _actor = platform.login.login("li.lei", PASSWORD)
    fake_clock.advance(minutes=29)
    assert platform.login.session_actor(cookie) is not None
    fake_clock.advance(minutes=29)  # 29 idle minutes since the last request: still alive
    assert platform.login.session_actor(cookie) is not None
    fake_clock.advance(minutes=30)
    assert platform.login.session_actor(cookie) is None

    cookie, _actor = platform.login.login("li.lei", PASSWORD)
    for _step in range(57):  # a request every 25 minutes for 23 h 45 min: never idle
        fake_clock.advance(minutes=25)
        assert platform.login.session_actor(cookie) is not None
    fake_clock.advance(minutes=16)
    assert platform.login.session_actor(cookie) is None  # 24 h after login, busy or not


def test_last_seen_is_written_at_most_once_a_minute(
    platform: Guanxi, fake_clock: FakeClock
) -> None:  # PERM-09: no write per request
    add_user(platform)
    cookie, _actor = platform.login.login("li.lei", PASSWORD)
    started = fake_clock.now

    def last_seen() -> datetime:
        with platform.db.read() as connection:
            return connection.execute(sa.select(session.c.last_seen_at)).scalar_one()

    fake_clock.advance(seconds=59)
    platform.login.session_actor(cookie)
    assert last_seen() == started
    fake_clock.advance(seconds=2)
    platform.login.session_actor(cookie)
    assert last_seen() == fake_clock.now


def test_logout_revokes_the_session_server_side(platform: Guanxi) -> None:  # PERM-09
    add_user(platform)
    cookie, _actor = platform.login.login("li.lei", PASSWORD, "10.0.0.3")
    other_cookie, _actor = platform.login.login("li.lei", PASSWORD)
    assert platform.login.logout(cookie, "10.0.0.3") is True
    assert platform.login.session_actor(cookie) is None
    assert platform.login.session_actor(other_cookie) is not None  # other devices stay
    assert platform.login.logout(cookie) is False
    with platform.db.read() as connection:
        kinds = connection.execute(
            sa.select(audit.c.changes).where(audit.c.kind == "session")
        ).scalars()
        assert [k["result"] for k in kinds] == ["logout"]


def test_deactivating_a_user_ends_their_sessions_at_once(platform: Guanxi) -> None:  # PERM-09
    user_id = add_user(platform)
    cookie, _actor = platform.login.login("li.lei", PASSWORD)
    identity.update_user(platform.db, user_id, active=False)
    assert platform.login.session_actor(cookie) is None


# -- passwords changed and reset ------------------------------------------------------------


def test_changing_the_own_password_needs_the_current_one_and_ends_every_session(
    platform: Guanxi,
) -> None:  # PERM-09
    user_id = add_user(platform)
    phone, actor = platform.login.login("li.lei", PASSWORD)
    laptop, _actor = platform.login.login("li.lei", PASSWORD)
    with pytest.raises(ValidationFailed) as wrong:
        platform.login.set_password(actor, user_id, NEW_PASSWORD, "not my password")
    assert wrong.value.fields() == {"current_password"}
    with pytest.raises(ValidationFailed) as missing:
        platform.login.set_password(actor, user_id, NEW_PASSWORD)
    assert missing.value.fields() == {"current_password"}
    assert platform.login.session_actor(phone) is not None

    assert platform.login.set_password(actor, user_id, NEW_PASSWORD, PASSWORD) == 2
    assert platform.login.session_actor(phone) is None
    assert platform.login.session_actor(laptop) is None
    with pytest.raises(LoginFailed):
        platform.login.login("li.lei", PASSWORD)
    assert platform.login.login("li.lei", NEW_PASSWORD)[1].user_id == user_id
    with platform.db.read() as connection:
        changes = connection.execute(
            sa.select(audit.c.changes).where(audit.c.kind == "user", audit.c.actor_id == user_id)
        ).scalar_one()
    assert changes == {"password": "changed", "sessions_revoked": 2}


def test_only_an_admin_resets_someone_elses_password(platform: Guanxi) -> None:  # PERM-09
    target = add_user(platform)
    colleague = add_user(platform, "wang.fang")
    _cookie, colleague_actor = platform.login.login("wang.fang", PASSWORD)
    with pytest.raises(PermissionDenied):
        platform.login.set_password(colleague_actor, target, NEW_PASSWORD, PASSWORD)
    add_admin(platform)
    _cookie, admin = platform.login.login("boss", PASSWORD)
    platform.login.set_password(admin, target, NEW_PASSWORD)
    assert platform.login.login("li.lei", NEW_PASSWORD)[1].user_id == target
    assert colleague != target


def test_a_new_password_must_pass_the_policy(platform: Guanxi) -> None:  # PERM-09
    user_id = add_user(platform)
    with pytest.raises(ValidationFailed) as weak:
        platform.login.set_password(Actor.system(), user_id, "li.lei12345")
    assert {e.code for e in weak.value.errors} == {"contains_username"}
    _cookie, actor = platform.login.login("li.lei", PASSWORD)
    with pytest.raises(ValidationFailed) as same:
        platform.login.set_password(actor, user_id, PASSWORD, PASSWORD)
    assert [e.code for e in same.value.errors] == ["unchanged"]


# -- API tokens -----------------------------------------------------------------------------


def test_an_api_token_is_shown_once_stored_as_a_hash_and_revocable(
    platform: Guanxi,
) -> None:  # PERM-09
    user_id = add_user(platform)
    _cookie, actor = platform.login.login("li.lei", PASSWORD)
    issued = platform.login.create_token(actor, user_id, "ERP 同步")
    assert issued.token.startswith(f"gx_{issued.prefix}_") and len(issued.token) == 55
    assert issued.token not in repr(issued)
    with platform.db.read() as connection:
        row = connection.execute(sa.select(api_token)).one()
    assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.token not in {str(v) for v in row._mapping.values()}
    found = platform.login.token_actor(issued.token, "10.2.2.2")
    assert found is not None and (found.user_id, found.ip) == (user_id, "10.2.2.2")
    [listed] = platform.login.list_tokens(actor, user_id)
    assert listed["name"] == "ERP 同步" and "token_hash" not in listed

    platform.login.revoke_token(actor, issued.id)
    assert platform.login.token_actor(issued.token) is None
    assert platform.login.list_tokens(actor, user_id) == []
    assert platform.login.list_tokens(actor, user_id, include_revoked=True)[0]["revoked_at"]
    assert platform.login.token_actor(issued.token[:-1] + "x") is None
    assert platform.login.token_actor("not a token") is None


def test_token_last_use_is_written_at_most_once_a_minute(
    platform: Guanxi, fake_clock: FakeClock
) -> None:  # PERM-09
    user_id = add_user(platform)
    issued = platform.login.create_token(Actor.system(), user_id, "报表")

    def last_used() -> datetime | None:
        return platform.login.list_tokens(Actor.system(), user_id)[0]["last_used_at"]

    assert last_used() is None
    platform.login.token_actor(issued.token)
    first = fake_clock.now
    assert last_used() == first
    fake_clock.advance(seconds=30)
    platform.login.token_actor(issued.token)
    assert last_used() == first
    fake_clock.advance(seconds=31)
    platform.login.token_actor(issued.token)
    assert last_used() == fake_clock.now


def test_an_expired_token_is_refused(platform: Guanxi, fake_clock: FakeClock) -> None:
    user_id = add_user(platform)  # PERM-09
    issued = platform.login.create_token(
        Actor.system(), user_id, "临时", fake_clock.now + timedelta(hours=1)
    )
    assert platform.login.token_actor(issued.token) is not None
    fake_clock.advance(hours=1)
    assert platform.login.token_actor(issued.token) is None
    with pytest.raises(ValidationFailed) as past:
        platform.login.create_token(Actor.system(), user_id, "过期", fake_clock.now)
    assert past.value.fields() == {"expires_at"}
    with pytest.raises(ValidationFailed) as unnamed:
        platform.login.create_token(Actor.system(), user_id, "  ")
    assert unnamed.value.fields() == {"name"}


def test_users_manage_their_own_tokens_and_admins_anyones(platform: Guanxi) -> None:  # PERM-09
    owner = add_user(platform)
    add_user(platform, "wang.fang")
    add_admin(platform)
    _cookie, owner_actor = platform.login.login("li.lei", PASSWORD)
    _cookie, colleague = platform.login.login("wang.fang", PASSWORD)
    _cookie, admin = platform.login.login("boss", PASSWORD)
    issued = platform.login.create_token(owner_actor, owner, "mine")
    with pytest.raises(PermissionDenied):
        platform.login.create_token(colleague, owner, "not mine")
    with pytest.raises(PermissionDenied):
        platform.login.list_tokens(colleague, owner)
    with pytest.raises(PermissionDenied):
        platform.login.revoke_token(colleague, issued.id)
    assert platform.login.token_actor(issued.token) is not None
    platform.login.revoke_token(admin, issued.id)
    assert platform.login.token_actor(issued.token) is None
    assert platform.login.create_token(admin, owner, "for li.lei").id != issued.id


# -- the signing key ------------------------------------------------------------------------


def test_a_generated_secret_key_is_kept_private_and_shared(tmp_path: Path) -> None:  # PERM-09
    path = tmp_path / "var" / "secret_key"
    first = read_or_create_secret(path)
    assert read_or_create_secret(path) == first and len(first) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temporary left


def test_a_short_secret_key_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # PERM-09
    monkeypatch.setenv("GUANXI_SECRET_KEY", "too-short")
    with pytest.raises(SettingsError, match="at least 32 characters"):
        Settings.from_env()
    monkeypatch.setenv("GUANXI_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("GUANXI_COOKIE_SECURE", "yes")
    monkeypatch.setenv("GUANXI_SESSION_IDLE_MINUTES", "45")
    settings = Settings.from_env()
    assert (settings.signing_key(), settings.cookie_secure, settings.session_idle_minutes) == (
        "k" * 40,
        True,
        45,
    )
