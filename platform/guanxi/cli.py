"""The `guanxi` command: init, serve, demo, check, plugins."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sqlalchemy.engine import make_url

from guanxi.errors import PluginError, SchemaFileError
from guanxi.settings import Settings


def _platform(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    from guanxi.core import Guanxi

    return Guanxi.create(settings or Settings.from_env())


def cmd_init(args: argparse.Namespace) -> int:
    from guanxi import identity

    platform = _platform()
    report = platform.start()
    shown = make_url(platform.settings.database_url).render_as_string(hide_password=True)
    print(f"database ready: {shown}")
    for name in report.created_tables:
        print(f"  created table {name}")
    for name in report.added_columns:
        print(f"  added column {name}")
    if not identity.list_users(platform.db):
        username = (
            args.admin
            or (input("first admin user name [admin]: ").strip() if sys.stdin.isatty() else "")
            or "admin"
        )
        identity.create_user(platform.db, username, args.admin_name or username)
        print(
            f"created first admin user '{username}' (set the password with the permissions layer)"
        )
    return 0


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

    platform = _platform()
    platform.start()
    if args.demo:
        from guanxi.demo import has_data, load_demo

        if not has_data(platform):
            counts = load_demo(platform)
            print("demo data loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    platform.close()
    print(f"Guanxi on http://{args.host}:{args.port}/ ({args.workers} worker(s))")
    uvicorn.run(
        "guanxi.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level="info",
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guanxi", description="Guanxi CRM platform")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create or upgrade the database and the first admin")
    init.add_argument("--admin", help="user name of the first admin")
    init.add_argument("--admin-name", help="display name of the first admin")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (SchemaFileError, PluginError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
