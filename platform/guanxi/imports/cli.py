"""`guanxi import FILE --entity customer` (DATA-09): the same upload, mapping and chunked run
as the web screens and the job, in this process, with a progress bar. `--resume ID` goes on
with an import that stopped (a crash, Ctrl-C, a failed job) from its next row.

Exit codes: 0 every row was imported (or, in a dry run, would be); 3 the import finished but
some rows failed (see the error workbook); 1 the import could not run or stopped part-way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

EXIT_OK, EXIT_STOPPED, EXIT_ROWS_FAILED = 0, 1, 3


def _platform() -> Any:
    from guanxi.core import Guanxi

    platform = Guanxi.create()
    platform.start()  # an import after installing a plugin needs its columns
    return platform


def first_admin(platform: Any) -> str | None:
    """The user name of the earliest active administrator (the default --user)."""
    from guanxi.store.system_tables import policy, user

    with platform.db.read() as connection:
        subjects = connection.execute(
            sa.select(policy.c.v0).where(policy.c.ptype == "g", policy.c.v1 == "admin")
        ).scalars()
        ids = [int(s.split(":", 1)[1]) for s in subjects if s.startswith("user:")]
        if not ids:
            return None
        return connection.execute(
            sa.select(user.c.username)
            .where(user.c.id.in_(ids), user.c.active)
            .order_by(user.c.id)
            .limit(1)
        ).scalar()


def read_mapping_file(path: Path) -> dict[str, str | None]:
    """{"column header": "field key" or null (ignore)}; headers compare as the screens do."""
    from guanxi.imports.mapping import normalize_header

    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("the mapping file must be a JSON object of header -> field key")
    return {normalize_header(str(k)): (str(v) if v else None) for k, v in data.items()}


def cmd_import(args: argparse.Namespace) -> int:
    from guanxi.errors import GuanxiError

    platform = _platform()
    try:
        if args.resume is not None:
            run = _resume(platform, args.resume)
        else:
            if not args.file or not args.entity:
                print("error: give FILE and --entity (or --resume ID)", file=sys.stderr)
                return EXIT_STOPPED
            run = _upload(platform, args)
            if run is None:
                return EXIT_STOPPED
        return _run(platform, run.id, args)
    except GuanxiError as error:
        print(f"error: {'; '.join(e.message.render('en') for e in error.errors)}", file=sys.stderr)
        return EXIT_STOPPED
    finally:
        platform.close()


def _upload(platform: Any, args: argparse.Namespace) -> Any:
    from guanxi.auth import identity
    from guanxi.imports import service

    username = args.user or first_admin(platform)
    if not username:
        print("error: no administrator exists; pass --user USERNAME", file=sys.stderr)
        return None
    actor = identity.actor_for(platform.db, username)
    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return None
    with path.open("rb") as handle:
        run = service.upload(
            platform,
            actor,
            args.entity,
            path.name,
            handle,
            policy=args.policy,
            dry_run=args.dry_run,
            sheet=args.sheet,
        )
    chosen = list(run.mapping or [])
    if args.mapping:
        from guanxi.imports.mapping import normalize_header

        given = read_mapping_file(Path(args.mapping))
        chosen = [
            given.get(normalize_header(h), key) for h, key in zip(run.header, chosen, strict=True)
        ]
    run = service.start(platform, actor, run.id, chosen, queue=False)
    print(
        f"import {run.id}: {path.name} -> {run.entity} as {username}"
        f" (duplicates: {run.policy}{', dry run' if run.dry_run else ''})"
    )
    for header, key in zip(run.header, run.mapping or [], strict=False):
        print(f"  {header} -> {key or '(not imported)'}")
    return run


def _resume(platform: Any, import_id: int) -> Any:
    """A failed import becomes running again here; a running one (its process died) goes on."""
    from guanxi import clock
    from guanxi.imports import service
    from guanxi.store.system_tables import import_run

    with platform.db.unit_of_work() as connection:
        run = service.load(connection, import_id)
        if run is None:
            raise SystemExit(f"error: no import {import_id}")
        if run.status == "failed" and run.storage_key:
            connection.execute(
                sa.update(import_run)
                .where(import_run.c.id == import_id)
                .values(status="running", error=None, finished_at=None, updated_at=clock.now_utc())
            )
        run = service.load(connection, import_id)
    assert run is not None
    if run.status not in ("queued", "running"):
        print(f"import {import_id} is {run.status}; nothing to resume", file=sys.stderr)
        raise SystemExit(EXIT_STOPPED)
    print(f"import {import_id}: resuming {run.filename} at row {run.next_row}")
    return run


def _run(platform: Any, import_id: int, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from guanxi.imports import process

    bar = tqdm(total=None, unit="rows", disable=args.quiet, dynamic_ncols=True)

    def show(run: Any) -> None:
        bar.total = run.total_rows
        bar.n = run.processed
        bar.set_postfix(
            created=run.created,
            updated=run.updated,
            skipped=run.skipped,
            failed=run.failed,
            refresh=False,
        )
        bar.refresh()

    try:
        run = process.run_import(platform, import_id, progress=show)
    except KeyboardInterrupt:
        bar.close()
        process.fail(platform, import_id, "interrupted on the command line")
        print(f"\nstopped; continue with: guanxi import --resume {import_id}", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as error:
        bar.close()
        process.fail(platform, import_id, str(error) or type(error).__name__)
        print(
            f"\nerror: {error}; continue with: guanxi import --resume {import_id}", file=sys.stderr
        )
        return EXIT_STOPPED
    show(run)
    bar.close()
    return _summary(platform, run, args)


def _summary(platform: Any, run: Any, args: argparse.Namespace) -> int:
    from guanxi.imports.workbooks import write_error_workbook

    verb = "would be " if run.dry_run else ""
    print(
        f"import {run.id} {run.status}: {run.processed} rows read; {verb}created {run.created},"
        f" {verb}updated {run.updated}, skipped {run.skipped}, failed {run.failed}"
    )
    if run.status != "done":
        if run.error:
            print(f"  {run.error_text('en')}", file=sys.stderr)
        return EXIT_STOPPED
    if run.failed:
        stem = Path(run.filename).stem
        target = Path(args.errors) if args.errors else Path.cwd() / f"{stem}-errors.xlsx"
        write_error_workbook(platform, run.id, run.header, target, "zh-CN")
        print(f"error workbook: {target}")
        return EXIT_ROWS_FAILED
    return EXIT_OK


def add_import_commands(commands: Any) -> None:
    """Register the import command on the `guanxi` parser's subcommands."""
    command = commands.add_parser(
        "import",
        help="import a CSV or XLSX file into a module (with a progress bar)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("file", nargs="?", help=".xlsx or .csv file (header in the first row)")
    command.add_argument("--entity", help="module to import into, e.g. customer")
    command.add_argument("--user", help="import as this user (default: the first administrator)")
    command.add_argument(
        "--policy",
        choices=("skip", "update", "create"),
        default="skip",
        help="rows duplicating an existing record: skip (default), update it, or create anyway",
    )
    command.add_argument("--dry-run", action="store_true", help="check every row, save nothing")
    command.add_argument("--mapping", help='JSON file {"column header": "field key" or null}')
    command.add_argument("--sheet", help="workbook sheet to read (default: the first)")
    command.add_argument("--errors", help="where to write the error workbook")
    command.add_argument("--resume", type=int, metavar="ID", help="continue a stopped import")
    command.add_argument("--quiet", action="store_true", help="no progress bar")
    command.set_defaults(run=cmd_import)
