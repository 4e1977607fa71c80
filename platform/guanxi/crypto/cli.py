"""`guanxi keys status|rotate|reseal|retire` (DATA-12): the key ring is a file beside the
database (or GUANXI_ENCRYPTION_KEY), never in it."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _platform() -> Any:
    from guanxi.core import Guanxi

    platform = Guanxi.create()
    platform.start()
    return platform


def _progress() -> Any:
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def step(table: str, rows: int) -> None:
        bar = bars.get(table)
        if bar is None:
            bar = bars[table] = tqdm(desc=table, unit=" rows", file=sys.stderr, leave=False)
        bar.update(rows)

    return step


def cmd_keys(args: argparse.Namespace) -> int:
    from guanxi.crypto.keyring import write_ring
    from guanxi.crypto.reseal import key_usage, reseal

    platform = _platform()
    try:
        cipher = platform.cipher
        path = platform.settings.encryption_key_file
        from_file = not platform.settings.encryption_key and path is not None
        if args.keys_command == "status":
            print(f"key ring: {path if from_file else 'GUANXI_ENCRYPTION_KEY'}")
            print(f"current key: {cipher.current}; keys: {', '.join(cipher.ring.ids())}")
            for table, counts in sorted(key_usage(platform).items()):
                shown = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
                print(f"  {table}: {shown or '-'}")
            return 0
        if args.keys_command in ("rotate", "retire") and not from_file:
            print("error: the keys come from GUANXI_ENCRYPTION_KEY; change it there "
                  "(\"new:BASE64,old:BASE64\", the first is current), then run "
                  "`guanxi keys reseal`", file=sys.stderr)  # fmt: skip
            return 2
        if args.keys_command == "rotate":
            ring = cipher.ring.with_new_key()
            write_ring(path, ring)
            cipher.refresh(force=True)
            print(f"new current key {ring.current}; re-encrypting ...")
        if args.keys_command == "retire":
            usage = key_usage(platform)
            using = {t: c[args.key] for t, c in usage.items() if c.get(args.key)}
            if using:
                print(f"error: key {args.key} still seals values in {using}; run "
                      "`guanxi keys reseal` first", file=sys.stderr)  # fmt: skip
                return 1
            write_ring(path, cipher.ring.without(args.key))
            print(f"retired key {args.key}")
            return 0
        report = reseal(platform, progress=_progress())
        print(f"re-encrypted {report.total} rows under key {cipher.current}")
        for table, rows in sorted(report.rows.items()):
            if rows:
                print(f"  {table}: {rows}")
        return 0
    finally:
        platform.close()


def add_key_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="encryption keys of sensitive fields (DATA-12)")
    sub = keys.add_subparsers(dest="keys_command", required=True)
    sub.add_parser("status", help="the key ring and which key seals how many values")
    sub.add_parser("rotate", help="add a new current key and re-encrypt everything with it")
    sub.add_parser("reseal", help="re-encrypt values not under the current key (and plain ones)")
    retire = sub.add_parser("retire", help="remove an old key no value uses any more")
    retire.add_argument("key", help="key id, e.g. k1")
    keys.set_defaults(run=cmd_keys)
