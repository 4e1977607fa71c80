"""`guanxi bin restore-all | purge`: empty the recycle bin by hand, with or without the plugin.

The marks that hide binned records are the core's (record_bin.py), so with the recycle-bin
plugin switched off its records stay hidden until one of these runs (docs/recycle-bin.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

from guanxi import clock
from guanxi.actor import Actor
from guanxi.errors import GuanxiError, NotFound

PAGE = 500


def _binned(platform: Any, entity: str, filters: Any = None) -> Iterator[int]:
    after = None
    while True:
        page = platform.records.query(
            Actor.system(), entity, filters, sort=["id"], limit=PAGE, after=after,
            action="binned",
        )  # fmt: skip
        yield from (int(row["id"]) for row in page.rows)
        if page.next_cursor is None:
            return
        after = page.next_cursor


def restore_all(platform: Any) -> tuple[int, list[str]]:
    """Restore every binned record; a child waits for its parent, so passes repeat while
    they make progress. Returns (restored, the refusals of what could not come back)."""
    restored, refusals = 0, {}
    progress = True
    while progress:
        progress = False
        for entity in platform.registry.entities():
            for record_id in list(_binned(platform, entity.name)):
                try:
                    platform.records.restore(Actor.system(), entity.name, record_id)
                except GuanxiError as error:
                    refusals[(entity.name, record_id)] = f"{entity.name} #{record_id}: {error}"
                    continue
                refusals.pop((entity.name, record_id), None)
                restored += 1
                progress = True
    return restored, sorted(refusals.values())


def purge_older(platform: Any, days: int) -> int:
    """Purge every record binned more than `days` days ago (with what went with it)."""
    cutoff = clock.now_utc() - timedelta(days=days)
    removed = 0
    condition = {"field": "deleted_at", "op": "lt", "value": cutoff.replace(tzinfo=UTC).isoformat()}
    for entity in platform.registry.entities():
        for record_id in list(_binned(platform, entity.name, condition)):
            try:
                removed += platform.records.purge(Actor.system(), entity.name, record_id)
            except NotFound:
                continue  # went with a record purged before it
    return removed


def _platform() -> Any:
    from guanxi.core import Guanxi

    platform = Guanxi.create()
    platform.start()  # also adds the bin's columns to a database that never had the plugin
    return platform


def add_bin_commands(commands: Any) -> None:
    binned = commands.add_parser("bin", help="empty the recycle bin: restore-all or purge")
    actions = binned.add_subparsers(dest="bin_command", required=True)
    actions.add_parser("restore-all", help="restore every record in the recycle bin").set_defaults(
        run=lambda args: _restore_all(_platform())
    )
    purge = actions.add_parser("purge", help="delete binned records for good (keeps a trace)")
    purge.add_argument("--older-than", type=int, default=0, metavar="DAYS")
    purge.set_defaults(run=lambda args: _purge(_platform(), args))


def _restore_all(platform: Any) -> int:
    restored, refusals = restore_all(platform)
    print(f"restored {restored} records")
    for refusal in refusals:
        print(f"  not restored: {refusal}")
    return 1 if refusals else 0


def _purge(platform: Any, args: argparse.Namespace) -> int:
    print(f"purged {purge_older(platform, max(0, args.older_than))} records")
    return 0
