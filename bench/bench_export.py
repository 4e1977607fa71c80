"""List-view export (DATA-10) of N customers to XLSX and CSV through the code the export routes
run (guanxi.web.export: records.export pages, Presenter, openpyxl write-only), not HTTP.

    .venv/bin/python bench/bench_export.py --url sqlite:////tmp/guanxi-bench/bench.db
    .venv/bin/python bench/bench_export.py --url ... --rows 5000 --format xlsx --user sales01

Each format runs in its own child process so its peak RSS (resource.getrusage) is its own;
the child prints the baseline RSS after start-up, the peak after the export, the time, rows
per second and the file size. The N rows are the first N customers by id (a filter on id, so
the export pages through the read path exactly as a filtered list view would). The files go
to a temporary directory and are deleted. Each export writes one access-log row (PERM-08).
Run it against a database filled by bench/seed.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import sqlalchemy as sa

from benchlib import DEFAULT_URL, make_platform, peak_rss_mb, say

COLUMNS = (
    "name,company,mobile,email,source,industry,region,level,stage,expected_value,rating,tags,"
    "owner_id,next_followup_at,created_at"
)


def last_id(platform: Any, rows: int) -> int | None:
    """The id of the rows-th customer by id (None when there are fewer)."""
    table = platform.registry.snapshot().tables["customer"]
    with platform.db.read() as connection:
        return connection.execute(
            sa.select(table.c.id).order_by(table.c.id).offset(rows - 1).limit(1)
        ).scalar()


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    """One export in this process; the figures as a dict."""
    from guanxi.actor import Actor
    from guanxi.auth import access_log, identity
    from guanxi.web.export import csv_chunks, write_xlsx

    platform = make_platform(args.url)
    actor = identity.actor_for(platform.db, args.user) if args.user else Actor.system()
    entity = platform.registry.snapshot().entity("customer")
    fields = [entity.field(key) for key in args.cols.split(",")]
    upto = last_id(platform, args.rows)
    filters = {"field": "id", "op": "lte", "value": upto} if upto is not None else None
    baseline = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="guanxi-bench-export-") as folder:
        path = os.path.join(folder, f"export.{args.format}")
        started = time.perf_counter()
        if args.format == "xlsx":
            write_xlsx(platform, actor, entity, args.locale, fields, filters, [], path)
        else:
            with open(path, "w", encoding="utf-8", newline="") as out:
                for chunk in csv_chunks(platform, actor, entity, args.locale, fields, filters, []):
                    out.write(chunk)
        seconds = time.perf_counter() - started
        size = os.path.getsize(path)
    [logged] = access_log.entries(platform.db, limit=1)  # the export's own row, with its count
    count = int(logged["row_count"])
    platform.close()
    return {
        "format": args.format,
        "rows": count,
        "columns": len(fields),
        "seconds": round(seconds, 2),
        "rows_per_second": round(count / seconds) if seconds else None,
        "file_mb": round(size / 2**20, 2),
        "rss_baseline_mb": round(baseline, 1),
        "rss_peak_mb": round(peak_rss_mb(), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=("xlsx", "csv", "both"), default="both")
    parser.add_argument("--user", help="export as this user (default: the system actor)")
    parser.add_argument("--locale", default="zh-CN")
    parser.add_argument("--cols", default=COLUMNS, help="comma-separated customer field keys")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args)), flush=True)
        return 0
    results = []
    for fmt in ("xlsx", "csv") if args.format == "both" else (args.format,):
        command = [
            sys.executable,
            __file__,
            "--child",
            "--url",
            args.url,
            "--rows",
            str(args.rows),
            "--format",
            fmt,
            "--locale",
            args.locale,
            "--cols",
            args.cols,
        ]
        if args.user:
            command += ["--user", args.user]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            say(done.stderr)
            return done.returncode
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    say(f"export of customers ({args.url.split('://')[0]}), {len(args.cols.split(','))} columns")
    say(f"{'format':<7}{'rows':>10}{'seconds':>10}{'rows/s':>10}{'file MB':>10}"
        f"{'RSS base':>10}{'RSS peak':>10}")  # fmt: skip
    for r in results:
        say(f"{r['format']:<7}{r['rows']:>10,}{r['seconds']:>10}{r['rows_per_second']:>10,}"
            f"{r['file_mb']:>10}{r['rss_baseline_mb']:>10}{r['rss_peak_mb']:>10}")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
