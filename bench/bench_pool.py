"""The nightly public-pool job (SFA-10) over a seeded customer table: how long the set-based
return of every stale customer takes (history rows by INSERT ... SELECT, pool history, one
notification per owner) and the advance warning after it. Target: <= 60 s over 1M customers
on SQLite.

    .venv/bin/python bench/seed.py --url sqlite:////tmp/guanxi-bench/pool.db --rows 1000000
    .venv/bin/python bench/bench_pool.py --url sqlite:////tmp/guanxi-bench/pool.db

Before timing, follow-up dates are spread as a live CRM has them (set in SQL, deterministic
by id): `--stale-pct` of the customers last followed up 31-230 days ago or never, the rest
within the last 29 days; one in a hundred is grade S (exempt) and one in two hundred locked.
The script can run again on the same database: it first gives pooled customers back to
their creator (the seeded owner). The platform runs with the plugin's default pools (east
region; a catch-all for the rest), 30 days without a follow-up (the no-deal rule is off by default).
"""

from __future__ import annotations

import argparse
import sys
import time

import sqlalchemy as sa

from benchlib import DEFAULT_URL, NOW, make_platform, peak_rss_mb, say


def spread_followups(g, stale_pct: int) -> None:  # type: ignore[no-untyped-def]
    table = g.registry.snapshot().tables["customer"]
    postgres = g.db.engine.dialect.name == "postgresql"

    def days_ago(days: sa.ColumnElement) -> sa.ColumnElement:  # type: ignore[type-arg]
        if postgres:
            return sa.literal(NOW, sa.DateTime) - sa.func.make_interval(0, 0, 0, days)
        return sa.func.datetime(
            sa.literal(NOW.isoformat(sep=" ")), "-" + sa.cast(days, sa.Text) + " days"
        )

    ident = table.c.id
    stale = (ident % 100) < stale_pct
    with g.db.unit_of_work() as c:
        c.execute(
            sa.update(table)
            .where(table.c.pool.is_not(None))
            .values(owner_id=table.c.created_by, pool=None, pooled_at=None)
        )
        c.execute(
            sa.update(table).values(
                last_followup_at=sa.case(
                    (sa.and_(stale, ident % 3 == 0), None),
                    (stale, days_ago(31 + ident % 200)),
                    else_=days_ago(ident % 29),
                ),
                claimed_at=None,
                last_deal_at=sa.case((ident % 10 == 0, days_ago(ident % 150)), else_=None),
                level=sa.case((ident % 100 == 50, "S"), else_=table.c.level),
                locked=(ident % 200) == 3,
            )
        )
    from guanxi_sfa.pool.tables import pool_state, pool_warning

    with g.db.unit_of_work() as c:
        c.execute(sa.delete(pool_warning))
        c.execute(sa.delete(pool_state))


def count(g, statement) -> int:  # type: ignore[no-untyped-def]
    with g.db.read() as c:
        return int(c.execute(statement).scalar_one())


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("--stale-pct", type=int, default=7)
    args = ap.parse_args()

    from guanxi import clock
    from guanxi.store.system_tables import history, notification
    from guanxi_sfa.pool import recycling
    from guanxi_sfa.pool.config import PoolSettings
    from guanxi_sfa.pool.tables import pool_history

    g = make_platform(args.url)
    table = g.registry.snapshot().tables["customer"]
    total = count(g, sa.select(sa.func.count()).select_from(table))
    say(f"{total:,} customers on {g.db.engine.dialect.name}; spreading follow-up dates ...")
    started = time.perf_counter()
    spread_followups(g, args.stale_pct)
    say(f"  prepared in {time.perf_counter() - started:.1f} s")
    clock.now_utc = lambda: NOW  # the data's "today"
    settings = PoolSettings.of(g)
    before_history = count(g, sa.select(sa.func.count()).select_from(history))
    before_pool = count(g, sa.select(sa.func.count()).select_from(pool_history))
    before_notes = count(g, sa.select(sa.func.count()).select_from(notification))

    timings = []
    returned = 0
    started = time.perf_counter()
    for pool in settings.pools:
        t0 = time.perf_counter()
        n = recycling.recycle(g, settings, pool, NOW)
        timings.append((pool.code, n, time.perf_counter() - t0))
        returned += n
    recycle_s = time.perf_counter() - started
    t0 = time.perf_counter()
    warned = recycling.warn(g, settings, NOW)
    warn_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = recycling.warn(g, settings, NOW)
    warn_again_s = time.perf_counter() - t0

    history_rows = count(g, sa.select(sa.func.count()).select_from(history)) - before_history
    pool_rows = count(g, sa.select(sa.func.count()).select_from(pool_history)) - before_pool
    notes = count(g, sa.select(sa.func.count()).select_from(notification)) - before_notes
    for code, n, seconds in timings:
        say(f"  pool {code}: {n:,} returned in {seconds:.1f} s")
    say(f"returned {returned:,} customers in {recycle_s:.1f} s "
        f"({returned / max(recycle_s, 1e-9):,.0f}/s); history rows +{history_rows:,}, "
        f"pool history +{pool_rows:,}")  # fmt: skip
    say(f"warned {warned:,} customers in {warn_s:.1f} s; a second warning run: {again} in "
        f"{warn_again_s:.1f} s; notifications +{notes:,}")  # fmt: skip
    say(f"whole job {recycle_s + warn_s:.1f} s (target <= 60 s); peak RSS {peak_rss_mb():.0f} MB")
    ok = history_rows == returned == pool_rows
    say("history and pool history match the returned count" if ok else "MISMATCH")
    g.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
