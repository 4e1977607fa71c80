"""Records/s creating customers one by one through the full pipeline (g.records.create):
parsing, defaults, validation, reference checks, numbering, insert, change history and stage
history, one transaction per record. Target: >= 1,000 records/s on SQLite.

    .venv/bin/python bench/bench_create.py --url sqlite:////tmp/guanxi-bench/bench.db --rows 5000

It runs against whatever database it is given (empty or seeded): the seeded 1M-row table is
the realistic case (14 indexes to maintain). Sales reps are inserted if there are none.

Each record is created by its owner acting as a `sales_rep` (the shipped role), so every
create includes the permission checks: module gate, field levels, the post-write check that
the record is in the rep's own edit scope (one SELECT).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal

from sqlalchemy import event

from benchlib import (
    DEFAULT_URL,
    RowMaker,
    build_pools,
    make_platform,
    owners,
    pct,
    peak_rss_mb,
    say,
)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("--rows", type=int, default=5000, help="records to create")
    ap.add_argument("--warmup", type=int, default=50)
    args = ap.parse_args()
    load_before = "/".join(f"{x:.1f}" for x in os.getloadavg())

    from guanxi.actor import Actor
    from seed import seed_people

    g = make_platform(args.url)
    engine = g.db.engine
    pools = build_pools()
    seed_people(g, pools)
    reps = owners(engine)
    maker = RowMaker(pools, reps, seed=99)

    def form() -> tuple[Actor, dict]:
        """What a sales rep submits: only filled fields, values as the JSON API sends them."""
        owner = maker.owner()
        data = {
            k: (str(v) if isinstance(v, Decimal) else v)
            for k, v in maker.fields().items()
            if v is not None
        }
        data["owner_id"] = owner
        actor = Actor(
            user_id=owner,
            username=f"sales{owner:02d}",
            department_id=reps[owner],
            roles=frozenset({"sales_rep"}),  # the shipped role: own-scope checks included
        )
        return actor, data

    with engine.connect() as c:
        before = c.exec_driver_sql("SELECT count(*) FROM e_customer").scalar_one()
    forms = [form() for _ in range(args.warmup + args.rows)]
    for actor, data in forms[: args.warmup]:
        g.records.create(actor, "customer", data)

    statements: list[str] = []
    listener = lambda *a: statements.append(a[2])  # noqa: E731  (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    g.records.create(forms[args.warmup][0], "customer", forms[args.warmup][1])
    event.remove(engine, "before_cursor_execute", listener)

    times = []
    t0 = time.perf_counter()
    for actor, data in forms[args.warmup + 1 :]:
        t = time.perf_counter()
        g.records.create(actor, "customer", data)
        times.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - t0
    n = len(times)
    with engine.connect() as c:
        after = c.exec_driver_sql("SELECT count(*) FROM e_customer").scalar_one()
        history_rows = c.exec_driver_sql("SELECT count(*) FROM gx_history").scalar_one()
        last_number = c.exec_driver_sql(
            "SELECT number FROM e_customer ORDER BY id DESC LIMIT 1"
        ).scalar_one()
    say(
        f"database {engine.dialect.name}, table had {before:,} rows, now {after:,}; "
        f"last number {last_number}; "
        f"{history_rows:,} history rows"
    )
    say(
        f"load average (1/5/15 min) before / after: {load_before} / "
        + "/".join(f"{x:.1f}" for x in os.getloadavg())
    )
    say(f"created {n:,} records one by one in {elapsed:.2f}s = {n / elapsed:,.0f} records/s")
    say(
        f"per create: p50 {pct(times, 50):.2f} ms, p95 {pct(times, 95):.2f} ms, "
        f"max {max(times) * 1000:.1f} ms"
    )
    say(f"statements per create: {len(statements)}")
    for s in statements:
        say("   " + " ".join(s.split())[:150])
    say(f"peak RSS: {peak_rss_mb():.0f} MB")
    verdict = "met" if n / elapsed >= 1000 else "NOT met"
    if engine.dialect.name == "sqlite":
        say(f"target >= 1,000 records/s on SQLite: {verdict}")
    assert after == before + args.warmup + 1 + n, "row count mismatch"
    g.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
