"""The `guanxi` command: init, serve, demo, check, plugins, passwd, token."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from guanxi.backup.cli import add_backup_commands
from guanxi.bin_cli import add_bin_commands
from guanxi.crypto.cli import add_key_commands
from guanxi.errors import GuanxiError, PluginError, SchemaFileError
from guanxi.imports.cli import add_import_commands
from guanxi.jobs.cli import add_job_commands
from guanxi.settings import Settings, SettingsError

ADMIN_ROLE = "admin"
ADMIN_PASSWORD_ENV = "GUANXI_ADMIN_PASSWORD"


def _platform(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    from guanxi.core import Guanxi

    return Guanxi.create(settings or Settings.from_env())


def cmd_init(args: argparse.Namespace) -> int:
    platform = _platform()
    report = platform.start()
    shown = make_url(platform.settings.database_url).render_as_string(hide_password=True)
    print(f"database ready: {shown}")
    for name in report.created_tables:
        print(f"  created table {name}")
    for name in report.added_columns:
        print(f"  added column {name}")
    if _admin_usernames(platform):
        return 0
    username = (
        args.admin
        or (input("first admin user name [admin]: ").strip() if sys.stdin.isatty() else "")
        or "admin"
    )
    password = _new_password(args.admin_password_file, ADMIN_PASSWORD_ENV, username)
    if password is None:
        print(
            "error: no password for the first admin: pass --admin-password-file FILE, set "
            f"{ADMIN_PASSWORD_ENV}, or run `guanxi init` in a terminal to type it",
            file=sys.stderr,
        )
        return 1
    _create_admin(platform, username, password, display_name=args.admin_name)
    print(f"created first admin user '{username}'")
    return 0


def _admin_usernames(platform: Any) -> list[str]:
    """Active users holding the admin role directly."""
    from guanxi.auth.identity import user_subject
    from guanxi.store.system_tables import policy, user

    with platform.db.read() as connection:
        subjects = set(
            connection.execute(
                sa.select(policy.c.v0).where(policy.c.ptype == "g", policy.c.v1 == ADMIN_ROLE)
            ).scalars()
        )
        return [
            row.username
            for row in connection.execute(
                sa.select(user.c.id, user.c.username).where(user.c.active.is_(True))
            )
            if user_subject(row.id) in subjects
        ]


def _create_admin(
    platform: Any, username: str, password: str, *, display_name: str | None = None
) -> int:
    from guanxi.actor import Actor
    from guanxi.auth import identity
    from guanxi.auth.passwords import hash_password

    user_id = identity.create_user(
        platform.db,
        username,
        display_name or username,
        password_hash=hash_password(password),
    )
    platform.permissions.assign_role(Actor.system(), user_id, ADMIN_ROLE)
    return user_id


def _new_password(file: str | None, env_name: str | None, username: str) -> str | None:
    """A password that passes the policy, from a file, the environment or typed twice; None if
    none is available without a terminal. Raises PasswordRejected for a weak one."""
    from guanxi.auth.passwords import policy_errors

    if file:
        password = _read_password_file(file)
    elif env_name and os.environ.get(env_name):
        password = os.environ[env_name]
    elif sys.stdin.isatty():
        password = _prompt_twice(username)
    else:
        return None
    problems = policy_errors(password, username)
    if problems:
        raise PasswordRejected("; ".join(p.message.render("en") for p in problems))
    return password


def _read_password_file(file: str) -> str:
    """The first line of FILE ("-" for standard input), without its line break."""
    try:
        if file == "-":
            line = sys.stdin.readline()
        else:
            with open(file, encoding="utf-8") as handle:
                line = handle.readline()
    except OSError as error:
        raise PasswordRejected(f"cannot read the password file: {error}") from None
    return line.rstrip("\r\n")


def _prompt_twice(username: str) -> str:
    for _attempt in range(3):
        first = getpass.getpass(f"password for '{username}': ")
        if first and first == getpass.getpass("the same password again: "):
            return first
        print("the two passwords differ (or are empty); try again", file=sys.stderr)
    raise PasswordRejected("the passwords typed did not match")


class PasswordRejected(Exception):
    """The password could not be read or is too weak; the message says why."""


def cmd_demo(args: argparse.Namespace) -> int:
    from guanxi.demo import has_data, load_demo

    platform = _platform()
    platform.start()
    if has_data(platform) and not args.force:
        print("the database already has customers; use --force to add demo data anyway")
        return 0
    counts = load_demo(platform, customers=args.customers)
    print("demo data loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from guanxi.ops.logs import configure_logging
    from guanxi.ops.serve import prepare_metrics_dir, uvicorn_logging

    platform = _platform()
    configure_logging(platform.settings)
    prepare_metrics_dir(args.workers)  # before uvicorn spawns the workers that inherit it
    platform.start()
    if args.demo:
        from guanxi.demo import has_data, load_demo

        if not has_data(platform):
            counts = load_demo(platform)
            print("demo data loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    admins = _admin_usernames(platform)
    if not admins and args.demo:
        username = (
            "admin" if "admin" not in _usernames(platform) else f"admin_{secrets.token_hex(2)}"
        )
        password = secrets.token_urlsafe(12)
        _create_admin(platform, username, password)
        print(f"demo admin created: sign in as '{username}' with the password {password}")
        print(f"  (shown only this once; change it with: guanxi passwd {username})")
    elif not admins:
        print("no administrator yet: run `guanxi init` to create one")
    else:
        print(f"sign in at /login as an administrator ({', '.join(admins[:3])})")
    platform.close()
    # Flushed: uvicorn takes over this process, and a one-time password must reach the log.
    print(f"Guanxi on http://{args.host}:{args.port}/ ({args.workers} worker(s))", flush=True)
    uvicorn.run(
        "guanxi.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        **uvicorn_logging(platform.settings),
    )
    return 0


def _usernames(platform: Any) -> set[str]:
    from guanxi.auth import identity

    return {u["username"] for u in identity.list_users(platform.db)}


def cmd_passwd(args: argparse.Namespace) -> int:
    """Set a user's password (as the platform: the operator has the server's shell)."""
    from guanxi.actor import Actor
    from guanxi.auth import identity

    platform = _platform()
    platform.start()
    user_id = identity.user_id_for(platform.db, args.user)
    password = _new_password(args.password_file, None, args.user)
    if password is None:
        print("error: no password: pass --password-file FILE or run in a terminal", file=sys.stderr)
        return 1
    ended = platform.login.set_password(Actor.system(), user_id, password)
    print(f"password of '{args.user}' set; {ended} session(s) ended")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from guanxi import clock
    from guanxi.actor import Actor
    from guanxi.auth import identity

    platform = _platform()
    platform.start()
    user_id = identity.user_id_for(platform.db, args.user)
    expires = clock.now_utc() + timedelta(days=args.days) if args.days else None
    modules = [m for part in args.module or [] for m in part.split(",") if m.strip()]
    issued = platform.login.create_token(
        Actor.system(),
        user_id,
        args.name,
        expires,
        modules=modules or None,
        read_only=args.read_only,
    )
    narrowed = []
    if issued.modules is not None:
        narrowed.append("modules " + ", ".join(issued.modules))
    if issued.read_only:
        narrowed.append("read-only")
    limits = f" [{'; '.join(narrowed)}]" if narrowed else ""
    print(f"token {issued.id} for '{args.user}' ({issued.name}){limits}, shown only this once:")
    print(issued.token)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from guanxi.actor import Actor

    platform = _platform()
    platform.start()
    platform.login.revoke_token(Actor.system(), args.id)
    print(f"token {args.id} revoked")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    from guanxi.actor import Actor
    from guanxi.auth import identity

    platform = _platform()
    platform.start()
    user_id = identity.user_id_for(platform.db, args.user)
    for token in platform.login.list_tokens(Actor.system(), user_id, include_revoked=True):
        state = "revoked" if token["revoked_at"] else "active"
        used = token["last_used_at"] or "never"
        expires = token["expires_at"] or "never"
        print(
            f"{token['id']:>5} gx_{token['prefix']}_…  {state:8} {token['name']}"
            f"  (last used {used}, expires {expires})"
        )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate schemas, plugins.toml and plugin settings without touching the database."""
    from guanxi.core import check_schema_files
    from guanxi.meta.field_types import FieldTypeRegistry
    from guanxi.plugins import load_plugins

    try:
        settings = Settings.from_env()
    except (ValueError, OSError) as error:
        print(f"plugins.toml: {error}")
        return 1
    problems: list[str] = []
    plugin_set = load_plugins(settings.plugin_config)
    problems.extend(str(p) for p in plugin_set.problems)
    types = FieldTypeRegistry()
    for found in plugin_set.manager.hook.register_field_types():
        for field_type in found or []:
            types.add(field_type)
    problems.extend(str(p) for p in check_schema_files(settings, types.names()))
    if not problems:
        try:
            _platform(settings)
        except (SchemaFileError, PluginError) as error:
            problems.append(str(error))
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found")
        return 1
    print(f"ok: schemas in {settings.schema_dir}, {len(plugin_set.plugins)} plugin(s)")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from guanxi.plugins import load_plugins

    plugin_set = load_plugins(Settings.from_env().plugin_config)
    for info in plugin_set.plugins.values():
        status = "problem" if info.problem else ("enabled" if info.enabled else "disabled")
        print(f"{info.name:32} {status:9} {info.source}")
        if info.hooks:
            print(f"{'':32} hooks: {', '.join(info.hooks)}")
        if info.problem:
            print(f"{'':32} {info.problem}")
    return 1 if plugin_set.problems else 0


def cmd_explain(args: argparse.Namespace) -> int:
    """PERM-10: why may (or may not) USER do ACTION on TARGET (and RECORD)?"""
    platform = _platform()
    platform.start(sync=False)
    decision = platform.permissions.explain(args.user, args.action, args.target, args.record)
    print(decision.text(args.lang))
    return 0 if decision.allowed else 3


def cmd_purge_logs(args: argparse.Namespace) -> int:
    from guanxi.auth.retention import purge_logs

    platform = _platform()
    days = args.days if args.days is not None else platform.settings.audit_retention_days
    removed = purge_logs(platform.db, days)
    print(f"kept {days} days; removed " + ", ".join(f"{n} from {t}" for t, n in removed.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guanxi", description="Guanxi CRM platform")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create or upgrade the database and the first admin")
    init.add_argument("--admin", help="user name of the first admin")
    init.add_argument("--admin-name", help="display name of the first admin")
    init.add_argument(
        "--admin-password-file",
        metavar="FILE",
        help=f"read the first admin's password from FILE ('-': standard input); "
        f"else ${ADMIN_PASSWORD_ENV}, else a prompt",
    )
    init.set_defaults(run=cmd_init)
    serve = commands.add_parser("serve", help="run the web server (uvicorn)")
    serve.add_argument("--host", default=os.environ.get("GUANXI_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("GUANXI_PORT", "8000")))
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--demo", action="store_true", help="load demo data first if the database is empty"
    )
    serve.set_defaults(run=cmd_serve)
    demo = commands.add_parser("demo", help="load realistic zh-CN demo data")
    demo.add_argument("--customers", type=int, default=220)
    demo.add_argument("--force", action="store_true")
    demo.set_defaults(run=cmd_demo)
    commands.add_parser(
        "check", help="validate schemas, plugins.toml and plugin settings"
    ).set_defaults(run=cmd_check)
    commands.add_parser("plugins", help="list plugins, their hooks and status").set_defaults(
        run=cmd_plugins
    )
    passwd = commands.add_parser("passwd", help="set a user's password (ends their sessions)")
    passwd.add_argument("user", help="user name")
    passwd.add_argument(
        "--password-file", metavar="FILE", help="read the password from FILE ('-': stdin)"
    )
    passwd.set_defaults(run=cmd_passwd)
    token = commands.add_parser("token", help="API tokens: create, list, revoke")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token (printed once)")
    create.add_argument("user", help="user name the token acts as")
    create.add_argument("name", help="what the token is for, e.g. 'ERP sync'")
    create.add_argument("--days", type=int, help="expire after this many days (default: never)")
    create.add_argument(
        "--module",
        action="append",
        metavar="ENTITY",
        help="only this module (repeat, or comma-separated; default: all the user's)",
    )
    create.add_argument(
        "--read-only", action="store_true", help="the token may read but never change records"
    )
    create.set_defaults(run=cmd_token_create)
    listing = token_commands.add_parser("list", help="a user's tokens (never the secrets)")
    listing.add_argument("user")
    listing.set_defaults(run=cmd_token_list)
    revoke = token_commands.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(run=cmd_token_revoke)
    explain = commands.add_parser(
        "explain", help="why a user may or may not do something (exit 3 when denied)"
    )
    explain.add_argument("user", help="user name")
    explain.add_argument("action", help="view, edit, delete, export, ... or read/write/mask")
    explain.add_argument("target", help="a module (customer) or a field (customer.mobile)")
    explain.add_argument("record", nargs="?", type=int, help="record id (checks the scope)")
    explain.add_argument("--lang", default="zh-CN", choices=("zh-CN", "en"))
    explain.set_defaults(run=cmd_explain)
    purge = commands.add_parser("purge-logs", help="delete log rows older than the retention")
    purge.add_argument("--days", type=int, help="override GUANXI_AUDIT_RETENTION_DAYS (>= 183)")
    purge.set_defaults(run=cmd_purge_logs)
    add_job_commands(commands)
    add_backup_commands(commands)
    add_import_commands(commands)
    add_key_commands(commands)
    add_bin_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (SchemaFileError, PluginError, SettingsError, PasswordRejected) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except GuanxiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
