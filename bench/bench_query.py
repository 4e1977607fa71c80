"""List, count and aggregate latency through the query layer vs. the same SQL written by hand.

    .venv/bin/python bench/bench_query.py --url sqlite:////tmp/guanxi-bench/bench.db
    .venv/bin/python bench/bench_query.py --url postgresql+psycopg://guanxi@127.0.0.1:PORT/bench

Each case runs `--warmup` times, then `--runs` times with varied parameters (owner sets,
stage, search text), the layer call and the raw SQL call alternating on the same
parameters. Raw SQL is hand-written text run with exec_driver_sql on the same engine, one
pooled connection per call like the layer. Prints p50/p95, the ratio, statements per layer
call, the plan (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE) of both and the peak RSS.
Run it against a database filled by bench/seed.py.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from benchlib import (
    DEFAULT_URL,
    INDUSTRY_WORDS,
    REGION_CITIES,
    STAGES,
    environment,
    make_platform,
    owners,
    pct,
    peak_rss_mb,
    say,
    timed,
)

CAP = 10_000
PAGE = 50
SORT_A = ["-created_at", "name"]
SORT_C = ["region", "industry", "-expected_value", "-created_at"]
# the layer appends id in the direction of the last sort key (name ASC) as the tie-breaker
ORDER_A = "ORDER BY created_at DESC, name ASC NULLS LAST, id ASC"
ORDER_C = (
    "ORDER BY region ASC NULLS LAST, industry ASC NULLS LAST, expected_value DESC NULLS FIRST, "
    "created_at DESC, id DESC"
)
# two-character substrings of company names: industry words (~1-4 % of rows) and cities (~0.5-2 %)
SUBSTRINGS = [w for words in INDUSTRY_WORDS.values() for w in words if len(w) == 2][:24] + [
    c for cities in REGION_CITIES.values() for c in cities if len(c) == 2
][:16]
# three or more characters: what pg_trgm can index (it extracts no trigram from 2 characters)
SUBSTRINGS3 = [w for words in INDUSTRY_WORDS.values() for w in words if len(w) == 3] + [
    c for cities in REGION_CITIES.values() for c in cities if len(c) >= 3
]


@dataclass
class Case:
    key: str
    title: str
    layer: Callable[[dict[str, Any]], Any]
    raw: Callable[[dict[str, Any]], Any]
    check: Callable[[Any, Any], bool]
    indexed_target: bool = False
    prepare: Callable[[dict[str, Any]], None] | None = None
    layer_ms: list[float] = field(default_factory=list)
    raw_ms: list[float] = field(default_factory=list)
    statements: int = 0
    plans: dict[str, str] = field(default_factory=dict)
    index: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Keeps the statements the layer sends, to count them and EXPLAIN the real SQL."""

    def __init__(self, engine: sa.Engine) -> None:
        self.on = False
        self.seen: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if self.on:
            self.seen.append((statement, parameters))

    def capture(self, fn: Callable[[], Any]) -> list[tuple[str, Any]]:
        self.seen, self.on = [], True
        try:
            fn()
        finally:
            self.on = False
        return self.seen


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument(
        "--rows", type=int, default=None, help="expected row count (checked, informative)"
    )
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--only", help="comma-separated case keys, e.g. a,b,d1")
    ap.add_argument(
        "--analyze", action="store_true", help="run ANALYZE first (SQLite: writes sqlite_stat1)"
    )
    args = ap.parse_args()

    from guanxi.actor import Actor

    g = make_platform(args.url)
    engine = g.db.engine
    pg = engine.dialect.name == "postgresql"
    actor = Actor.system()
    if args.analyze:
        from seed import gather_statistics

        gather_statistics(engine)
    with engine.connect() as c:
        stats = (
            c.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).scalar()
            if not pg
            else c.exec_driver_sql(
                "SELECT count(*) FROM pg_stats WHERE tablename = 'e_customer'"
            ).scalar()
        )
    recorder = Recorder(engine)
    with engine.connect() as c:
        total = c.exec_driver_sql("SELECT count(*) FROM e_customer").scalar_one()
    if args.rows is not None and total != args.rows:
        say(f"warning: e_customer has {total:,} rows, --rows said {args.rows:,}")
    user_ids = sorted(owners(engine))
    rnd = random.Random(11)

    def params() -> dict[str, Any]:
        return {
            "owners": rnd.sample(user_ids, 10),
            "stage": rnd.choice(STAGES),
            "text": rnd.choice(SUBSTRINGS),
            "text3": rnd.choice(SUBSTRINGS3),
        }

    def ph(n: int) -> str:
        return ", ".join(["?"] * n)

    def raw(sql: str, values: list[Any]) -> list[Any]:
        if pg:
            sql = sql.replace("?", "%s")
        with engine.connect() as c:
            return c.exec_driver_sql(sql, tuple(values)).fetchall()

    like = "ILIKE" if pg else "LIKE"

    def filters_a(p: dict[str, Any]) -> dict[str, Any]:
        return {
            "and": [
                {"field": "owner_id", "op": "in", "value": p["owners"]},
                {"field": "stage", "op": "eq", "value": p["stage"]},
            ]
        }

    def filters_b(p: dict[str, Any], key: str = "text") -> dict[str, Any]:
        f = filters_a(p)
        f["and"].append({"field": "company", "op": "contains", "value": p[key]})
        return f

    def where_a(p: dict[str, Any]) -> tuple[str, list[Any]]:
        return f"owner_id IN ({ph(10)}) AND stage = ?", [*p["owners"], p["stage"]]

    def sql_a(p: dict[str, Any]) -> tuple[str, list[Any]]:
        w, v = where_a(p)
        return f"SELECT * FROM e_customer WHERE {w} {ORDER_A} LIMIT {PAGE + 1}", v

    def sql_b(p: dict[str, Any], key: str = "text") -> tuple[str, list[Any]]:
        w, v = where_a(p)
        return (
            f"SELECT * FROM e_customer WHERE {w} AND company {like} ? {ORDER_A} LIMIT {PAGE + 1}",
            [*v, f"%{p[key]}%"],
        )

    sql_c = (f"SELECT * FROM e_customer {ORDER_C} LIMIT {PAGE + 1}", [])

    def sql_d1(p: dict[str, Any]) -> tuple[str, list[Any]]:
        w, v = where_a(p)
        return f"SELECT count(*) FROM (SELECT id FROM e_customer WHERE {w} LIMIT {CAP + 1}) AS t", v

    sql_d2 = (f"SELECT count(*) FROM (SELECT id FROM e_customer LIMIT {CAP + 1}) AS t", [])
    sql_e = (
        "SELECT stage, count(*) AS count, sum(expected_value) AS sum_expected_value "
        "FROM e_customer GROUP BY stage LIMIT 500",
        [],
    )

    def sql_f2(p: dict[str, Any], last: Any) -> tuple[str, list[Any]]:
        w, v = where_a(p)
        created, name, rid = last
        # The predicate the layer generates (store/query.py `after`), written by hand.
        keyset = (
            "(created_at <= ? AND (created_at < ? OR ((name >= ? OR name IS NULL)"
            " AND ((name > ? OR name IS NULL) OR id > ?))))"
        )
        return (
            f"SELECT * FROM e_customer WHERE {w} AND {keyset} {ORDER_A} LIMIT {PAGE + 1}",
            [*v, created, created, name, name, rid],
        )

    def layer_f(p: dict[str, Any]) -> tuple[Any, Any]:
        first = g.records.query(actor, "customer", filters_a(p), sort=SORT_A, limit=PAGE)
        second = g.records.query(
            actor, "customer", filters_a(p), sort=SORT_A, limit=PAGE, after=first.next_cursor
        )
        return first, second

    def raw_f(p: dict[str, Any]) -> tuple[Any, Any]:
        first = raw(*sql_a(p))
        last = first[PAGE - 1]
        second = raw(*sql_f2(p, (last.created_at, last.name, last.id)))
        return first, second

    def prepare_f2(p: dict[str, Any]) -> None:
        """Page 1 of (a) for both sides, untimed: the case then times page 2 alone."""
        p["cursor"] = g.records.query(
            actor, "customer", filters_a(p), sort=SORT_A, limit=PAGE
        ).next_cursor
        p["last"] = _last_key(raw(*sql_a(p)))

    def same_page(layer_page: Any, raw_rows: Any) -> bool:
        return [r["id"] for r in layer_page.rows] == [r.id for r in raw_rows[:PAGE]]

    cases = [
        Case(
            "a",
            "50-row page: owner IN (10) AND stage = X, sort -created_at, name",
            lambda p: g.records.query(actor, "customer", filters_a(p), sort=SORT_A, limit=PAGE),
            lambda p: raw(*sql_a(p)),
            same_page,
            indexed_target=True,
        ),
        Case(
            "b",
            "(a) + company contains 2-char text",
            lambda p: g.records.query(actor, "customer", filters_b(p), sort=SORT_A, limit=PAGE),
            lambda p: raw(*sql_b(p)),
            same_page,
            indexed_target=True,
        ),
        Case(
            "b3",
            "(a) + company contains 3-4 char text (pg_trgm-able)",
            lambda p: g.records.query(
                actor, "customer", filters_b(p, "text3"), sort=SORT_A, limit=PAGE
            ),
            lambda p: raw(*sql_b(p, "text3")),
            same_page,
        ),
        Case(
            "c",
            "4-level sort region, industry, -expected_value, -created_at; no filter",
            lambda p: g.records.query(actor, "customer", None, sort=SORT_C, limit=PAGE),
            lambda p: raw(*sql_c),
            same_page,
        ),
        Case(
            "d1",
            f"capped count (cap {CAP:,}), filter (a)",
            lambda p: g.records.count(actor, "customer", filters_a(p), cap=CAP),
            lambda p: raw(*sql_d1(p)),
            lambda lay, r: lay.value == min(r[0][0], CAP),
            indexed_target=True,
        ),
        Case(
            "d2",
            f"capped count (cap {CAP:,}), no filter",
            lambda p: g.records.count(actor, "customer", None, cap=CAP),
            lambda p: raw(*sql_d2),
            lambda lay, r: lay.value == min(r[0][0], CAP),
        ),
        Case(
            "e",
            "group by stage: count + sum(expected_value)",
            lambda p: g.records.aggregate(
                actor,
                "customer",
                None,
                group_by=["stage"],
                measures=[("count", None), ("sum", "expected_value")],
            ),
            lambda p: raw(*sql_e),
            lambda lay, r: (
                sorted((x["stage"], x["count"]) for x in lay) == sorted((y[0], y[1]) for y in r)
            ),
        ),
        Case(
            "f",
            "keyset: page 1 + page 2 via next_cursor for (a)",
            layer_f,
            raw_f,
            lambda lay, r: same_page(lay[0], r[0]) and same_page(lay[1], r[1]),
        ),
        Case(
            "f2",
            "keyset: page 2 alone (cursor from page 1, untimed)",
            lambda p: g.records.query(
                actor, "customer", filters_a(p), sort=SORT_A, limit=PAGE, after=p["cursor"]
            ),
            lambda p: raw(*sql_f2(p, p["last"])),
            same_page,
            prepare=prepare_f2,
        ),
    ]
    if args.only:
        keep = set(args.only.split(","))
        cases = [c for c in cases if c.key in keep]

    env = environment(engine)
    say(
        f"database {engine.dialect.name} {env.get('postgresql', env['sqlite'])}, {total:,} customers, "
        f"{args.runs} runs after {args.warmup} warm-up; planner statistics: {'yes' if stats else 'none'}"
    )
    for case in cases:
        plist = [params() for _ in range(args.warmup + args.runs)]
        if case.prepare:
            for p in plist:
                case.prepare(p)
        for p in plist[: args.warmup]:
            case.layer(p)
            case.raw(p)
        ok = True
        for i, p in enumerate(plist[args.warmup :]):
            # alternate who goes first: the first call on new parameters pays the cache misses
            layer_call, raw_call = partial(case.layer, p), partial(case.raw, p)
            if i % 2:
                t_raw, want = timed(raw_call)
                t_layer, got = timed(layer_call)
            else:
                t_layer, got = timed(layer_call)
                t_raw, want = timed(raw_call)
            case.layer_ms.append(t_layer)
            case.raw_ms.append(t_raw)
            ok = ok and case.check(got, want)
        if case.key in ("b", "b3"):
            matches = [len(case.layer(p).rows) for p in plist[args.warmup :]]
            case.extra["rows_returned_mean"] = sum(matches) / len(matches)
        if case.key in ("a", "b", "b3", "d1"):
            with engine.connect() as c:
                counts = []
                for p in plist[args.warmup : args.warmup + 10]:
                    sql, values = (
                        sql_b(p)
                        if case.key == "b"
                        else sql_b(p, "text3")
                        if case.key == "b3"
                        else sql_a(p)
                    )
                    sql = re.sub(r"^SELECT \* ", "SELECT count(*) ", sql.split(" ORDER BY")[0])
                    counts.append(
                        c.exec_driver_sql(
                            sql.replace("?", "%s") if pg else sql, tuple(values)
                        ).scalar()
                    )
            case.extra["matching_rows_mean"] = sum(counts) / len(counts)
        case.extra["same_results"] = ok
        explain(
            case,
            recorder,
            plist[-1],
            pg,
            engine,
            {
                "a": lambda p: [sql_a(p)],
                "b": lambda p: [sql_b(p)],
                "b3": lambda p: [sql_b(p, "text3")],
                "c": lambda p: [sql_c],
                "f2": lambda p: [sql_f2(p, p["last"])],
                "d1": lambda p: [sql_d1(p)],
                "d2": lambda p: [sql_d2],
                "e": lambda p: [sql_e],
                "f": lambda p: [sql_a(p)] + [sql_f2(p, _last_key(raw(*sql_a(p))))],
            }[case.key],
        )
        report(case)

    rss = peak_rss_mb()
    say(f"\npeak RSS of this process: {rss:.0f} MB")
    say(
        "\n| case | layer p50 | layer p95 | raw p50 | raw p95 | ratio p50 | ratio p95 | stmts "
        "| index (layer) |"
    )
    say("|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        lp50, lp95, rp50, rp95 = (
            pct(case.layer_ms, 50),
            pct(case.layer_ms, 95),
            pct(case.raw_ms, 50),
            pct(case.raw_ms, 95),
        )
        say(
            f"| {case.key} | {lp50:.2f} | {lp95:.2f} | {rp50:.2f} | {rp95:.2f} | {lp50 / rp50:.2f} | "
            f"{lp95 / rp95:.2f} | {case.statements} | {case.index.get('layer', '')} |"
        )
    if args.json:
        out = {
            "env": env,
            "rows": total,
            "runs": args.runs,
            "peak_rss_mb": rss,
            "cases": [
                {
                    "key": c.key,
                    "title": c.title,
                    "layer_p50": pct(c.layer_ms, 50),
                    "layer_p95": pct(c.layer_ms, 95),
                    "raw_p50": pct(c.raw_ms, 50),
                    "raw_p95": pct(c.raw_ms, 95),
                    "statements": c.statements,
                    "index": c.index,
                    "plans": c.plans,
                    **c.extra,
                }
                for c in cases
            ],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, ensure_ascii=False, indent=1, default=str)
    g.close()
    return 0


def _last_key(rows: list[Any]) -> tuple[Any, Any, Any]:
    last = rows[PAGE - 1]
    return last.created_at, last.name, last.id


def explain(
    case: Case, recorder: Recorder, p: dict[str, Any], pg: bool, engine: sa.Engine, raw_sql
) -> None:  # type: ignore[no-untyped-def]
    seen = recorder.capture(lambda: case.layer(p))
    case.statements = len(seen) // (2 if case.key == "f" else 1)
    mine = [(s, v) for s, v in seen if "e_customer" in s]
    prefix = "EXPLAIN (ANALYZE, COSTS OFF, BUFFERS) " if pg else "EXPLAIN QUERY PLAN "
    with engine.connect() as c:
        for label, statements in (
            ("layer", mine),
            ("raw", [(s.replace("?", "%s") if pg else s, tuple(v)) for s, v in raw_sql(p)]),
        ):
            texts = []
            for statement, values in statements:
                rows = c.exec_driver_sql(prefix + statement, values).fetchall()
                plan = "\n".join(r[0] for r in rows) if pg else "\n".join(r[-1] for r in rows)
                texts.append(plan)
            case.plans[label] = "\n---\n".join(texts)
            case.index[label] = " / ".join(summarize(t, pg) for t in texts)
        if pg:
            c.rollback()
    case.plans["layer_sql"] = "\n---\n".join(s for s, _ in mine)


def summarize(plan: str, pg: bool) -> str:
    """The access path in a few words: index names, full scans, sorts."""
    found: list[str] = []
    if pg:
        for m in re.finditer(
            r"(Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)?(?: using| on) (\w+)",
            plan,
        ):
            found.append(
                f"{m.group(2)} "
                f"({'IOS' if 'Only' in m.group(1) else 'bitmap' if 'Bitmap' in m.group(1) else 'scan'})"
            )
        if "Seq Scan on e_customer" in plan:
            found.append("Seq Scan")
        if "Incremental Sort" in plan:
            found.append("incremental sort")
        elif re.search(r"Sort Method: top-N", plan):
            found.append("top-N sort")
        elif "Sort Method" in plan:
            found.append("sort")
        m = re.search(r"Execution Time: ([\d.]+) ms", plan)
        if m:
            found.append(f"{float(m.group(1)):.1f} ms")
    else:
        for line in plan.splitlines():
            m = re.search(r"USING (COVERING INDEX|INDEX) (\w+)", line)
            if m and "e_customer" in line:
                found.append(f"{m.group(2)}{' (covering)' if 'COVERING' in m.group(1) else ''}")
            elif re.search(r"SCAN e_customer\b", line) and "INDEX" not in line:
                found.append("full scan")
            if line.startswith(("UNION", "COMPOUND")) and "TEMP B-TREE" in line:
                found.append("union (temp b-tree)")
            elif "TEMP B-TREE" in line:
                found.append("temp b-tree " + line.split("FOR ", 1)[-1].lower())
    return ", ".join(dict.fromkeys(found)) or "?"


def report(case: Case) -> None:
    lp50, lp95 = pct(case.layer_ms, 50), pct(case.layer_ms, 95)
    rp50, rp95 = pct(case.raw_ms, 50), pct(case.raw_ms, 95)
    say(f"\n== {case.key}: {case.title}")
    say(
        f"   layer p50 {lp50:8.2f} ms  p95 {lp95:8.2f} ms   ({case.statements} statements per call)"
    )
    say(
        f"   raw   p50 {rp50:8.2f} ms  p95 {rp95:8.2f} ms   "
        f"ratio p50 {lp50 / rp50:.2f}  p95 {lp95 / rp95:.2f}"
    )
    if case.extra:
        say(f"   {case.extra}")
    say(f"   index layer: {case.index.get('layer')}\n   index raw:   {case.index.get('raw')}")
    say("   layer plan:\n      " + case.plans.get("layer", "").replace("\n", "\n      "))
    if case.plans.get("raw") != case.plans.get("layer"):
        say("   raw plan:\n      " + case.plans.get("raw", "").replace("\n", "\n      "))


if __name__ == "__main__":
    sys.exit(main())
