"""Rows/s importing customers from an XLSX file through the whole import path (DATA-09):
the file streamed with openpyxl (read_only), each cell parsed by its field type, every row
checked against the duplicate rules (a real rule: same mobile, "warn"), created in chunks
through `records.create_many` (validation, permissions, numbering, history, duplicate keys)
with the import's progress in the same transaction. Target: >= 2,000 rows/s on SQLite for
100,000 rows against 1M existing customers, with peak memory flat in the file's size.

    .venv/bin/python bench/bench_import.py --url sqlite:////tmp/import-bench.db --existing 20000
    .venv/bin/python bench/bench_import.py --url sqlite:////tmp/copy-of-1M.db --sizes 10000,100000

The file holds realistic zh-CN rows (benchlib pools), written the way people's files look:
mobiles as numbers, with spaces or +86; option labels in Chinese or English; dates as
2024/3/5, 2024年3月5日 or Excel dates. About 2% of the rows repeat the mobile of an existing
customer (skipped as duplicates) and 1% are invalid (a bad mobile or an unknown source: they
go to the error workbook). The import runs as a `sales_rep` user ("bench_import", created if
missing), so the permission checks are part of the figure.

The database is changed: every run adds its rows (run it on a copy of a seeded database).
`--existing N` first creates customers through `create_many` until the table holds N (a
fresh database works: `--existing 20000`). Each size in `--sizes` is one import; peak RSS
(getrusage) is printed after each, so 10,000 vs 100,000 rows shows memory staying flat.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchlib import (
    RowMaker,
    build_pools,
    environment,
    make_platform,
    owners,
    peak_rss_mb,
    say,
)

HEADER = [
    "客户名称",
    "公司名称",
    "手机号",
    "邮箱",
    "线索来源",
    "行业",
    "地区",
    "客户等级",
    "预计金额",
    "下次跟进时间",
    "地址",
    "备注",
]
USERNAME = "bench_import"
DUPLICATE_SHARE = 0.02
INVALID_SHARE = 0.01


def option_labels(g: Any) -> dict[str, dict[str, tuple[str, str]]]:
    """field -> code -> (zh label, en label): files hold labels, never codes."""
    entity = g.registry.snapshot().entity("customer")
    return {
        key: {
            o.code: (o.label.get("zh-CN", o.code), o.label.get("en", o.code))
            for o in entity.field(key).options
        }
        for key in ("source", "industry", "region", "level")
    }


def write_file(
    g: Any, path: Path, rows: int, existing_mobiles: list[str], seed: int
) -> dict[str, int]:
    """An .xlsx of `rows` customers (write_only: flat memory); returns what it planted."""
    import openpyxl

    pools = build_pools()
    maker = RowMaker(pools, owners(g.db.engine), seed=seed)
    labels = option_labels(g)
    rnd = random.Random(seed)
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("客户")
    sheet.append(HEADER)
    planted = {"duplicates": 0, "invalid": 0}
    day0 = datetime(2026, 12, 1, 9, 30)
    for index in range(rows):
        f = maker.fields()
        mobile: Any = f["mobile"] or maker.mobile()
        roll = rnd.random()
        if existing_mobiles and roll < DUPLICATE_SHARE:
            mobile = rnd.choice(existing_mobiles)
            planted["duplicates"] += 1
        shape = index % 4  # how people's files hold mobiles
        if shape == 0:
            mobile = int(mobile)
        elif shape == 1:
            mobile = f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
        elif shape == 2:
            mobile = f"+86 {mobile}"
        source_zh, source_en = labels["source"][f["source"]]
        source = source_zh if index % 3 else source_en
        if DUPLICATE_SHARE <= roll < DUPLICATE_SHARE + INVALID_SHARE:
            planted["invalid"] += 1
            if index % 2:
                mobile = "12345"
            else:
                source = "不存在的来源"
        when = day0 + timedelta(days=index % 90, hours=index % 8)
        follow = (
            when,
            when.strftime("%Y/%-m/%-d %H:%M"),
            f"{when.year}年{when.month}月{when.day}日",
        )[index % 3]
        sheet.append(
            [
                f["name"],
                f["company"],
                mobile,
                f["email"] or "",
                source,
                labels["industry"][f["industry"]][index % 2],
                labels["region"][f["region"]][0],
                labels["level"][f["level"]][0] if f["level"] else "",
                float(f["expected_value"]) if f["expected_value"] is not None else None,
                follow,
                f["address"] or "",
                f["remarks"] or "",
            ]
        )
    workbook.save(path)
    return planted


def ensure_importer(g: Any) -> Any:
    """A sales rep to import as (the role's module gate, field levels and scope apply)."""
    from guanxi.actor import Actor
    from guanxi.auth import identity
    from guanxi.store.system_tables import user

    with g.db.read() as connection:
        found = connection.execute(sa.select(user.c.id).where(user.c.username == USERNAME)).scalar()
    if found is None:
        department = min(owners(g.db.engine).values(), default=None)
        found = identity.create_user(g.db, USERNAME, "导入测试", department_id=department)
        g.permissions.assign_role(Actor.system(), found, "sales_rep")
    return identity.actor_for(g.db, USERNAME)


def ensure_rule(g: Any, reindex: bool = False) -> None:
    """The realistic duplicate check: one "warn" rule on the mobile, keys for every row.
    A database from `seed.py --mobile-rule` has both. Otherwise the rule is saved as an admin
    would, and the backfill job it queues (`duplicates.index`) runs here, timed; `reindex`
    saves the existing rule again (its keys are deleted and rebuilt), to time the backfill."""
    from guanxi.actor import Actor
    from seed import MOBILE_RULE

    book = getattr(g, "duplicates", None)
    if book is None:
        say("no duplicate rules in this build: dedupe uses nothing")
        return
    book.invalidate()
    found = book.covering("customer")
    if found and not reindex:
        with g.db.read() as connection:
            keys = connection.execute(
                sa.select(sa.func.count()).select_from(dup_key_table())
            ).scalar_one()
        say(f"duplicate rules: {', '.join(r.name for r in found)} ({keys:,} keys in gx_dup_key)")
        return
    started = time.perf_counter()
    rule_id = found[0].id if found else None
    book.save(Actor.system(), MOBILE_RULE, rule_id=rule_id)
    saved = time.perf_counter() - started
    # run_one, not run_due: only what is queued (the index job), no periodic job is scheduled
    ran = []
    while (outcome := _timed_run_one(g)) is not None:
        ran.append(outcome)
    jobs = ", ".join(
        f"{job} {status} {seconds:.1f}s {result}" for job, status, seconds, result in ran
    )
    say(
        f"duplicate rule on mobile {'re-saved' if rule_id else 'saved'} in {saved:.1f}s "
        f"(deleting old keys included); jobs: {jobs or 'none'}; total {time.perf_counter() - started:.1f}s"
    )


def dup_key_table() -> Any:
    from guanxi.store.system_tables import dup_key

    return dup_key


def _timed_run_one(g: Any) -> tuple[str, str, float, Any] | None:
    started = time.perf_counter()
    outcome = g.jobs.run_one(worker="bench")
    if outcome is None:
        return None
    return (
        outcome.job,
        outcome.status,
        time.perf_counter() - started,
        outcome.result or outcome.error,
    )


def seed_existing(g: Any, wanted: int) -> None:
    """Create customers (system actor, create_many in chunks) until the table holds `wanted`."""
    from guanxi.actor import Actor

    have = customer_count(g)
    if have >= wanted:
        return
    maker = RowMaker(build_pools(), owners(g.db.engine), seed=11)
    started, todo = time.perf_counter(), wanted - have
    for start in range(0, todo, 1000):
        rows = []
        for _index in range(min(1000, todo - start)):
            f = maker.fields()
            f["mobile"] = f["mobile"] or maker.mobile()
            f["owner_id"] = maker.owner()
            rows.append(
                {
                    k: (str(v) if k == "expected_value" and v is not None else v)
                    for k, v in f.items()
                    if v is not None
                }
            )
        g.records.create_many(Actor.system(), "customer", rows, confirm_duplicates=True)
    say(f"seeded {todo:,} customers in {time.perf_counter() - started:.1f}s")


def customer_count(g: Any) -> int:
    table = g.registry.snapshot().tables["customer"]
    with g.db.read() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def existing_mobiles(g: Any, count: int = 500) -> list[str]:
    from guanxi.actor import Actor

    page = g.records.query(
        Actor.system(),
        "customer",
        {"field": "mobile", "op": "not_empty"},
        sort=[{"field": "id", "dir": "desc"}],
        limit=count,
    )
    return [row["mobile"] for row in page.rows if row.get("mobile")]


class AnonPeak:
    """Peak anonymous RSS (heap, not the SQLite file pages mmap maps in, which getrusage's
    peak counts too), sampled from /proc every 0.1 s while a run lasts: this process's, and
    that of its child processes (the import's read-ahead process for large workbooks)."""

    def __init__(self) -> None:
        self.peak_kb = self.start_kb = self.children_peak_kb = self.total_peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def current_kb(pid: int | str = "self") -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    @staticmethod
    def children() -> list[str]:
        found: list[str] = []
        for tasks in Path("/proc/self/task").glob("*/children"):
            with contextlib.suppress(OSError):
                found += tasks.read_text().split()
        return found

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            own = self.current_kb()
            children = sum(self.current_kb(pid) for pid in self.children())
            self.peak_kb = max(self.peak_kb, own)
            self.children_peak_kb = max(self.children_peak_kb, children)
            self.total_peak_kb = max(self.total_peak_kb, own + children)

    def __enter__(self) -> AnonPeak:
        self.start_kb = self.peak_kb = self.total_peak_kb = self.current_kb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Timers:
    """Seconds spent in the import's stages, by wrapping the module functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.originals: list[tuple[Any, str, Any]] = []

    def restore(self) -> None:
        for owner, name, original in self.originals:
            setattr(owner, name, original)

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        self.originals.append((owner, name, original))

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started

        setattr(owner, name, timed)


def run_one(g: Any, actor: Any, rows: int, seed: int, keep: bool) -> dict[str, Any]:
    from guanxi.imports import convert, process, service

    folder = Path(tempfile.mkdtemp(prefix="guanxi-import-bench-"))
    path = folder / f"customers-{rows}.xlsx"
    started = time.perf_counter()
    planted = write_file(g, path, rows, existing_mobiles(g), seed)
    write_s = time.perf_counter() - started
    size_mb = path.stat().st_size / 1e6
    timers = Timers()
    timers.wrap(process, "_handled_duplicate", "duplicate checks")
    timers.wrap(process, "_create_many", "create_many (pipeline + progress)")
    timers.wrap(convert.RowConverter, "convert", "parsing cells")
    started = time.perf_counter()
    with path.open("rb") as handle:
        draft = service.upload(g, actor, "customer", path.name, handle, policy="skip")
    service.start(g, actor, draft.id, queue=False)
    upload_s = time.perf_counter() - started
    started = time.perf_counter()
    cpu_self, cpu_children = _cpu_seconds()
    load_before = os.getloadavg()[0]
    with AnonPeak() as anon:
        run = process.run_import(g, draft.id)
    run_s = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    cpu_now = _cpu_seconds()
    cpu_self, cpu_children = cpu_now[0] - cpu_self, cpu_now[1] - cpu_children
    timers.restore()
    if not keep:
        path.unlink(missing_ok=True)
        folder.rmdir()
    result = {
        "rows": rows,
        "file_mb": round(size_mb, 1),
        "write_file_s": round(write_s, 1),
        "upload_s": round(upload_s, 2),
        "import_s": round(run_s, 1),
        "rows_per_s": round(run.processed / run_s),
        "status": run.status,
        "created": run.created,
        "skipped": run.skipped,
        "failed": run.failed,
        "planted": planted,
        "stages_s": {k: round(v, 1) for k, v in timers.seconds.items()},
        "peak_rss_mb": round(peak_rss_mb()),
        "peak_anon_mb": round(anon.peak_kb / 1024),
        "start_anon_mb": round(anon.start_kb / 1024),
        "children_peak_anon_mb": round(anon.children_peak_kb / 1024),
        "total_peak_anon_mb": round(anon.total_peak_kb / 1024),
        "cpu_s": round(cpu_self, 1),
        "cpu_children_s": round(cpu_children, 1),
        "load_1min": [round(load_before, 2), round(load_after, 2)],
    }
    reading = run_s - sum(timers.seconds.values())
    say(
        f"{rows:>8,} rows ({size_mb:.1f} MB xlsx, written in {write_s:.1f}s): imported in "
        f"{run_s:.1f}s = {result['rows_per_s']:,} rows/s; created {run.created:,}, skipped "
        f"{run.skipped:,} (planted {planted['duplicates']:,}), failed {run.failed:,} (planted "
        f"{planted['invalid']:,}); peak RSS {result['peak_rss_mb']} MB (heap during the run: "
        f"{result['peak_anon_mb']} MB, {result['start_anon_mb']} MB at its start; child "
        f"processes {result['children_peak_anon_mb']} MB; both together "
        f"{result['total_peak_anon_mb']} MB)"
    )
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in timers.seconds.items())
    say(f"           stages: {stages}, reading the file and the rest {reading:.1f}s")
    say(
        f"           CPU: this process {cpu_self:.1f}s ({run.processed / max(cpu_self, 1e-9):,.0f} "
        f"rows per CPU second), child processes {cpu_children:.1f}s; 1-min load "
        f"{load_before:.2f} -> {load_after:.2f}"
    )
    return result


def _cpu_seconds() -> tuple[float, float]:
    """User + system CPU seconds of this process and of its waited-for children (the
    read-ahead process); a database server's own CPU is not included."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", required=True, help="database URL (it is changed: use a copy)")
    ap.add_argument("--sizes", default="100000", help="comma-separated row counts, one import each")
    ap.add_argument("--rows", type=int, help="shorthand for --sizes ROWS")
    ap.add_argument(
        "--existing",
        type=int,
        default=0,
        help="first create customers until the table holds this many",
    )
    ap.add_argument("--no-rule", action="store_true", help="do not add a duplicate rule")
    ap.add_argument(
        "--reindex",
        action="store_true",
        help="save the duplicate rule again and time its backfill job (duplicates.index) over "
        "the existing customers before importing",
    )
    ap.add_argument("--keep-files", action="store_true", help="keep the generated .xlsx files")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    sizes = [args.rows] if args.rows else [int(s) for s in args.sizes.split(",") if s.strip()]

    from seed import seed_people

    g = make_platform(args.url)
    seed_people(g, build_pools())
    if not args.no_rule:
        ensure_rule(g, reindex=args.reindex)
    seed_existing(g, args.existing)
    actor = ensure_importer(g)
    existing = customer_count(g)
    say(
        f"{g.db.engine.dialect.name}: {existing:,} existing customers; importing as {USERNAME}"
        f" (sales_rep); peak RSS before: {peak_rss_mb():.0f} MB"
    )
    results = [  # a fresh seed per run: the rows of earlier runs are not duplicated again
        run_one(g, actor, rows, seed=existing + n, keep=args.keep_files)
        for n, rows in enumerate(sizes)
    ]
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"environment": environment(g.db.engine), "existing": existing, "results": results},
                ensure_ascii=False,
                indent=2,
            )
        )
    g.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
