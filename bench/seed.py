"""Seed N customers with realistic zh-CN values, bypassing the record pipeline.

    .venv/bin/python bench/seed.py --url sqlite:////tmp/guanxi-bench/bench.db --rows 1000000
    .venv/bin/python bench/seed.py --url postgresql+psycopg://guanxi@127.0.0.1:PORT/bench

SQLite: SQLAlchemy Core executemany in batches; PostgreSQL: psycopg COPY on the raw
connection. Secondary indexes are dropped for the load and rebuilt afterwards (then the
platform's own sync checks nothing is missing). PostgreSQL gets VACUUM ANALYZE (what
autovacuum would do); SQLite is left without statistics like the platform leaves it
(--analyze to run ANALYZE; bench_query.py --analyze does it too).
The customer table must be empty: use a fresh database.

--org flat (default): 7 departments (a centre and six teams) and 50 sales reps owning
every customer, as the core benchmark has always used.
--org tree: an org chart for the permission benchmark: 销售中心 -> 4 divisions -> 20
regions -> 100 teams (125 departments) and ~1,000 users: HQ and division staff, a manager
and an assistant per region, 7-12 reps per team (a region's subtree holds ~50 users). Only
team reps own customers; each customer's department_id is its owner's team. Users get roles
as gx_policy g rows (reps and assistants sales_rep, region and division heads sales_manager,
HQ executive), and the auth version is bumped like any org change.

Sensitive fields are written as the app stores them (DATA-12): mobile and email sealed by the
platform's own Cipher ("gxe1:<kid>:...", the column type on SQLite, `SealedText` on the COPY
rows on PostgreSQL) with their blind index `<field>_bidx` beside them (`SealedText.blind`,
what `fill_blind_indexes` uses). Duplicate rules covering customers get their gx_dup_key rows
in the same batches (`keys.match_text` + `keys.key_of`, as `RuleBook.store_keys` and the
`duplicates.index` job compute them). `--mobile-rule` first adds the rule bench_import.py
uses ("手机号重复": same mobile, warn), marked indexed. The key ring is the platform's
(GUANXI_ENCRYPTION_KEY_FILE, default var/encryption.keys): a copy of the database only opens
with that ring.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta

import sqlalchemy as sa

from benchlib import (
    CUSTOMER_COLUMNS,
    DEFAULT_URL,
    DEPARTMENTS,
    NOW,
    RowMaker,
    build_pools,
    make_platform,
    owners,
    peak_rss_mb,
    say,
)

N_USERS = 50

# The duplicate rule of bench_import.py (--mobile-rule): same mobile, warn.
MOBILE_RULE = {
    "name": "手机号重复",
    "entity": "customer",
    "action": "warn",
    "fields": [{"field": "mobile", "method": "exact"}],
}

# --org tree: divisions -> regions (5 each) -> 5 teams per region
TREE_DIVISIONS = {
    "东部大区": ("上海区域", "杭州区域", "南京区域", "苏州区域", "合肥区域"),
    "北部大区": ("北京区域", "天津区域", "济南区域", "青岛区域", "石家庄区域"),
    "南部大区": ("广州区域", "深圳区域", "厦门区域", "福州区域", "南宁区域"),
    "西部大区": ("成都区域", "重庆区域", "武汉区域", "西安区域", "长沙区域"),
}
TREE_TEAMS = ("一组", "二组", "三组", "四组", "五组")
TREE_SEED = 20261123


def seed_people(g, pools) -> None:  # type: ignore[no-untyped-def]
    """Departments (a centre and six teams) and 50 sales reps, inserted with Core."""
    from guanxi.store.system_tables import department, user

    with g.db.unit_of_work() as c:
        if c.execute(sa.select(sa.func.count()).select_from(user)).scalar_one():
            return
        created = NOW - timedelta(days=3 * 365 + 30)
        c.execute(
            sa.insert(department),
            [
                {
                    "id": i + 1,
                    "name": name,
                    "parent_id": None if i == 0 else 1,
                    "created_at": created,
                }
                for i, name in enumerate(DEPARTMENTS)
            ],
        )
        c.execute(
            sa.insert(user),
            [
                {
                    "id": i,
                    "username": f"sales{i:02d}",
                    "display_name": pools.names[i * 37 % len(pools.names)],
                    "email": f"sales{i:02d}@guanxi.example.cn",
                    "department_id": 2 + (i - 1) % (len(DEPARTMENTS) - 1),
                    "active": True,
                    "created_at": created,
                }
                for i in range(1, N_USERS + 1)
            ],
        )
        if g.db.engine.dialect.name == "postgresql":  # explicit ids: move the sequences on
            for table in ("gx_department", "gx_user"):
                c.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )


def seed_org_tree(g, pools) -> set[int]:  # type: ignore[no-untyped-def]
    """--org tree: 125 departments, ~1,000 users and their roles (g rows), inserted with Core.
    Returns the ids of the team departments (the ones whose members own customers)."""
    import random

    from guanxi.auth import version
    from guanxi.store.system_tables import department, policy, user

    with g.db.unit_of_work() as c:
        if c.execute(sa.select(sa.func.count()).select_from(user)).scalar_one():
            parents = {r.parent_id for r in c.execute(sa.select(department.c.parent_id))}
            return {r.id for r in c.execute(sa.select(department.c.id)) if r.id not in parents}
        rnd = random.Random(TREE_SEED)
        created = NOW - timedelta(days=3 * 365 + 30)
        departments: list[dict] = []
        users: list[dict] = []
        roles: list[tuple[int, str]] = []
        teams: set[int] = set()

        def dept(name: str, parent: int | None) -> int:
            departments.append(
                {
                    "id": len(departments) + 1,
                    "name": name,
                    "parent_id": parent,
                    "created_at": created,
                }
            )
            return len(departments)

        def person(kind: str, department_id: int, role: str) -> None:
            uid = len(users) + 1
            users.append(
                {
                    "id": uid,
                    "username": f"{kind}{uid:04d}",
                    "display_name": pools.names[uid * 37 % len(pools.names)],
                    "email": f"{kind}{uid:04d}@guanxi.example.cn",
                    "department_id": department_id,
                    "active": True,
                    "created_at": created,
                }
            )
            roles.append((uid, role))

        hq = dept(DEPARTMENTS[0], None)  # 销售中心
        person("director", hq, "executive")
        for _ in range(4):
            person("hq", hq, "sales_rep")
        for division_name, regions in TREE_DIVISIONS.items():
            division = dept(division_name, hq)
            person("head", division, "sales_manager")
            for _ in range(2):
                person("ops", division, "sales_rep")
            for region_name in regions:
                region = dept(region_name, division)
                person("manager", region, "sales_manager")
                person("assistant", region, "sales_rep")
                for team_name in TREE_TEAMS:
                    team = dept(region_name.removesuffix("区域") + "销售" + team_name, region)
                    teams.add(team)
                    for _ in range(rnd.randint(7, 12)):
                        person("sales", team, "sales_rep")
        c.execute(sa.insert(department), departments)
        c.execute(sa.insert(user), users)
        c.execute(
            sa.insert(policy),
            [{"ptype": "g", "v0": f"user:{uid}", "v1": role} for uid, role in roles],
        )
        if g.db.engine.dialect.name == "postgresql":
            for table in ("gx_department", "gx_user"):
                c.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        version.bump(c)
    say(f"org tree: {len(departments)} departments, {len(users)} users, {len(teams)} teams")
    return teams


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--keep-indexes", action="store_true", help="load with all indexes in place")
    ap.add_argument(
        "--org",
        choices=("flat", "tree"),
        default="flat",
        help="flat: 7 departments, 50 reps (default, the core benchmark); tree: 125 "
        "departments in 4 levels, ~1,000 users with roles (bench_permissions.py)",
    )
    ap.add_argument(
        "--analyze",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="gather planner statistics after loading (default: yes on PostgreSQL, where "
        "autovacuum would do it anyway; no on SQLite, where the platform never runs ANALYZE)",
    )
    ap.add_argument(
        "--mobile-rule",
        action="store_true",
        help="add bench_import.py's duplicate rule (same mobile, warn) before loading; its keys "
        "are written with the rows (as for any rule already in the database)",
    )
    args = ap.parse_args()

    t_start = time.perf_counter()
    g = make_platform(args.url)
    engine = g.db.engine
    dialect = engine.dialect.name
    table = g.registry.snapshot().tables["customer"]
    t_pools = time.perf_counter()
    pools = build_pools()
    if args.org == "tree":
        teams = seed_org_tree(g, pools)
    else:
        seed_people(g, pools)
    say(
        f"pools: {time.perf_counter() - t_pools:.1f}s "
        f"({len(pools.names)} names, {len(pools.cores)} company cores)"
    )

    with engine.connect() as c:
        if c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
            say(f"{table.name} is not empty: seed a fresh database")
            return 2

    if args.mobile_rule:
        add_rule(g, MOBILE_RULE)
    extras = Extras(g, table)
    say(
        f"sealed columns: {', '.join(extras.sealed_names) or 'none'}; duplicate rules: "
        f"{', '.join(f'#{r.id} {r.name}' for r in extras.rules) or 'none'}"
    )

    people = owners(engine)
    if args.org == "tree":  # only team reps own customers, in their own team's department
        people = {uid: dept for uid, dept in people.items() if dept in teams}
    maker = RowMaker(pools, people)
    created = maker.created_times(args.rows)

    indexes = [] if args.keep_indexes else list(table.indexes)
    if indexes:
        with g.db.unit_of_work() as c:
            for index in indexes:
                c.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")

    gen_s = 0.0
    t_load = time.perf_counter()
    if dialect == "postgresql":
        gen_s = _copy_pg(engine, maker, created, args.batch, extras)
    else:
        gen_s = _executemany(g, table, maker, created, args.batch, extras)
    load_s = time.perf_counter() - t_load
    say(
        f"loaded {args.rows:,} rows in {load_s:.1f}s = {args.rows / load_s:,.0f} rows/s "
        f"(generating values {gen_s:.1f}s, database {load_s - gen_s:.1f}s = "
        f"{args.rows / max(load_s - gen_s, 1e-9):,.0f} rows/s)"
    )
    say(
        f"  of which sealing + blind indexes {extras.seal_s:.1f}s"
        f"{' (sealing itself: in the column type, database time)' if dialect != 'postgresql' else ''}"
        f", duplicate keys {extras.key_s:.1f}s ({extras.keys_written:,} gx_dup_key rows)"
    )
    extras.mark_indexed()

    t_index = time.perf_counter()
    if indexes:
        _build_indexes(g, indexes)
    report = g.sync()  # the platform's own check: nothing may be missing now
    index_s = time.perf_counter() - t_index
    say(
        f"indexes: {len(indexes)} rebuilt in {index_s:.1f}s; sync added {report.added_indexes or 'nothing'}"
    )

    from guanxi.store.system_tables import sequence

    with g.db.unit_of_work() as c:
        c.execute(sa.delete(sequence).where(sequence.c.name == "customer.number"))
        c.execute(sa.insert(sequence).values(name="customer.number", value=args.rows))
        if dialect == "postgresql":
            c.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('e_customer', 'id'), (SELECT max(id) FROM e_customer))"
            )
    t_analyze = time.perf_counter()
    analyze = args.analyze if args.analyze is not None else dialect == "postgresql"
    if analyze:
        gather_statistics(engine)
    analyze_s = time.perf_counter() - t_analyze
    total = time.perf_counter() - t_start
    say(
        f"analyze: {f'{analyze_s:.1f}s' if analyze else 'skipped'}; total {total:.1f}s = "
        f"{args.rows / total:,.0f} rows/s end to end"
    )
    say(f"peak RSS: {peak_rss_mb():.0f} MB")
    g.close()
    return 0


def gather_statistics(engine) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: VACUUM ANALYZE (visibility map for index-only scans + statistics, what
    autovacuum reaches on its own); SQLite: ANALYZE (sqlite_stat1)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE e_customer")
            c.exec_driver_sql("ANALYZE gx_user")
    else:
        with engine.connect() as c:
            c.exec_driver_sql("ANALYZE")
            c.commit()


def _batches(maker: RowMaker, created, batch: int):  # type: ignore[no-untyped-def]
    """Yield (seconds spent generating, rows) per batch."""
    for start in range(0, len(created), batch):
        t0 = time.perf_counter()
        rows = [
            maker.row(i + 1, f"C{i + 1:06d}", created[i])
            for i in range(start, min(start + batch, len(created)))
        ]
        yield time.perf_counter() - t0, rows


def _executemany(g, table, maker, created, batch, extras) -> float:  # type: ignore[no-untyped-def]
    from guanxi.store.system_tables import dup_key

    gen = 0.0
    statement = sa.insert(table)
    with g.db.engine.connect() as c:
        # Values reference existing users/departments by construction: no per-row FK lookups
        # while loading (the pragma only works outside a transaction; restored below).
        driver = c.connection.driver_connection  # autocommit mode: no transaction open yet
        driver.execute("PRAGMA foreign_keys=OFF")
        try:
            for spent, rows in _batches(maker, created, batch):
                t0 = time.perf_counter()
                dicts = [dict(zip(CUSTOMER_COLUMNS, row, strict=True)) for row in rows]
                # the column type seals the values; the blind indexes and keys are ours
                extras.blind_dicts(dicts)
                keys = extras.keys_for(dicts)
                gen += spent + time.perf_counter() - t0
                with c.begin():
                    c.execute(statement, dicts)
                    if keys:
                        c.execute(sa.insert(dup_key), keys)
        finally:
            driver.execute("PRAGMA foreign_keys=ON")
    return gen


def _copy_pg(engine, maker, created, batch, extras) -> float:  # type: ignore[no-untyped-def]
    gen = 0.0
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        columns = extras.copy_columns()
        copy_sql = f"COPY e_customer ({', '.join(columns)}) FROM STDIN"
        keys_sql = "COPY gx_dup_key (rule_id, entity, record_id, key) FROM STDIN"
        with pg.cursor() as cur:
            # The rows reference existing users/departments by construction: skip the four
            # per-row foreign-key triggers while loading (needs a superuser, as in the bench).
            cur.execute("SET session_replication_role = replica")
            for spent, rows in _batches(maker, created, batch * 10):
                t0 = time.perf_counter()
                keys = (
                    extras.keys_for([dict(zip(CUSTOMER_COLUMNS, r, strict=True)) for r in rows])
                    if extras.rules
                    else []
                )
                rows = extras.sealed_rows(rows)  # sealed values + blind indexes, in COPY order
                gen += spent + time.perf_counter() - t0
                with cur.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
                if keys:
                    with cur.copy(keys_sql) as copy:
                        for key in keys:
                            copy.write_row(
                                (key["rule_id"], key["entity"], key["record_id"], key["key"])
                            )
                pg.commit()
        with pg.cursor() as cur:
            cur.execute("RESET session_replication_role")
        pg.commit()
    finally:
        raw.close()
    return gen


def add_rule(g, values) -> None:  # type: ignore[no-untyped-def]
    """A duplicate rule as `RuleBook.save` stores it, but with no `duplicates.index` job queued:
    the rows' keys are written while loading (indexed_at is set afterwards)."""
    from guanxi.defaults.duplicates.rules import RuleBook
    from guanxi.store.system_tables import dup_rule

    book = getattr(g, "duplicates", None) or RuleBook(g)
    clean = book.validated(values)
    with g.db.unit_of_work() as c:
        exists = c.execute(
            sa.select(dup_rule.c.id).where(
                dup_rule.c.entity == clean["entity"], dup_rule.c.name == clean["name"]
            )
        ).scalar()
        if exists is None:
            c.execute(sa.insert(dup_rule).values(**clean, created_at=NOW, updated_at=NOW))
    book.invalidate()


class Extras:
    """What the app writes beside a customer's plain values: sealed sensitive columns, their
    blind indexes, and one gx_dup_key row per duplicate rule, computed with the platform's own
    helpers (`SealedText`, `keys.match_text`, `keys.key_of`)."""

    def __init__(self, g, table) -> None:  # type: ignore[no-untyped-def]
        from guanxi.crypto.columns import blind_column, sealed_type

        self.g = g
        self.sealed = [
            (name, CUSTOMER_COLUMNS.index(name), sealed_type(table.c[name]), blind_column(name))
            for name in CUSTOMER_COLUMNS
            if sealed_type(table.c[name]) is not None
        ]
        self.sealed_names = [name for name, *_rest in self.sealed]
        book = getattr(g, "duplicates", None)
        if book is not None:
            book.invalidate()
        self.rules = book.covering("customer") if book is not None else []
        self.definition = g.registry.snapshot().entity("customer")
        self.seal_s = self.key_s = 0.0
        self.keys_written = 0

    def copy_columns(self) -> list[str]:
        return [*CUSTOMER_COLUMNS, *(blind for *_rest, blind in self.sealed)]

    def blind_dicts(self, dicts: list[dict]) -> None:
        """SQLite: the insert's column type seals the value; add its blind index."""
        t0 = time.perf_counter()
        for name, _index, kind, blind in self.sealed:
            for d in dicts:
                d[blind] = kind.blind(d[name])
        self.seal_s += time.perf_counter() - t0

    def sealed_rows(self, rows: list[tuple]) -> list[tuple]:
        """PostgreSQL COPY (no column types): seal as `SealedText` does, add blind indexes."""
        if not self.sealed:
            return rows
        t0 = time.perf_counter()
        out = []
        for row in rows:
            values = list(row)
            blinds = []
            for _name, index, kind, _blind in self.sealed:
                plain = row[index]
                values[index] = kind.process_bind_param(plain, None)
                blinds.append(kind.blind(plain))
            out.append((*values, *blinds))
        self.seal_s += time.perf_counter() - t0
        return out

    def keys_for(self, dicts: list[dict]) -> list[dict]:
        """gx_dup_key rows of the batch (plain values in, as `store_keys` sees the record)."""
        if not self.rules:
            return []
        from guanxi.defaults.duplicates import keys

        t0 = time.perf_counter()
        types, cipher = self.g.types, self.g.cipher
        out = []
        for rule in self.rules:
            fields = rule.fields_for("customer")
            for d in dicts:
                text = keys.match_text(types, self.definition, fields, rule.methods, d)
                if text is not None:
                    out.append(
                        {
                            "rule_id": rule.id,
                            "entity": "customer",
                            "record_id": d["id"],
                            "key": keys.key_of(cipher, rule.id, text),
                        }
                    )
        self.key_s += time.perf_counter() - t0
        self.keys_written += len(out)
        return out

    def mark_indexed(self) -> None:
        from guanxi import clock
        from guanxi.store.system_tables import dup_rule

        if not self.rules:
            return
        with self.g.db.unit_of_work() as c:
            c.execute(
                sa.update(dup_rule)
                .where(dup_rule.c.id.in_([r.id for r in self.rules]))
                .values(indexed_at=clock.now_utc())
            )


def _build_indexes(g, indexes) -> None:  # type: ignore[no-untyped-def]
    engine = g.db.engine
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            for index in indexes:
                index.dialect_options["postgresql"]["concurrently"] = False
                t0 = time.perf_counter()
                c.execute(sa.schema.CreateIndex(index, if_not_exists=True))
                say(f"  {index.name}: {time.perf_counter() - t0:.1f}s")
        return
    with g.db.unit_of_work() as c:
        for index in indexes:
            t0 = time.perf_counter()
            c.execute(sa.schema.CreateIndex(index, if_not_exists=True))
            say(f"  {index.name}: {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
