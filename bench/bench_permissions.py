"""The permission layer's two targets (issue 3): field masks on a page, and scoped list queries.

    .venv/bin/python bench/bench_permissions.py --url sqlite:////tmp/guanxi-bench/perm/sqlite/bench.db
    .venv/bin/python bench/bench_permissions.py --url postgresql+psycopg://guanxi@127.0.0.1:PORT/bench
    .venv/bin/python bench/bench_permissions.py --url ... --only masks --write-docs
    bash bench/run_permissions.sh          # seed (or reuse) + both databases, see there

masks (no database work beyond loading metadata and one 50-row page):
  - FieldMask.apply_rows on a 50-row page holding the visible columns only (what
    records.query does) and FieldMask.apply on full 30-field rows (get/present path), for a
    role set with masked and hidden fields; target <= 1 ms per page;
  - what the mask replaces: one casbin.Enforcer built from guanxi/auth/model.conf with
    --policies (2,000) generated policy lines (many roles, field rules, deny rules, keyMatch
    patterns, ~1,000 user->role links), asked per field per row (read, else mask);
  - the one-time cost of a mask: PolicySnapshot from the rows, RoleSetGrants (small enforcer)
    and RoleSetGrants.mask, on a fresh snapshot each time; plus the same mask computed with
    the full enforcer.
queries (needs a database seeded with `seed.py --org tree`):
  g.records.query / count as a sales_manager (department_tree scope over a region: ~50
  users, 6 departments), a sales_manager over a division (~250 users, 31 departments), a
  sales_rep (own) and the system actor (no scope): default list page (created_at
  DESC, id DESC), the core benchmark's sort (-created_at, name), filtered by stage, capped
  count, page 2 via cursor. The 20 region managers, 4 division heads and 20 reps take turns,
  so each run reads another part of the table. Prints p50/p95, statements per call and the plans
  (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE) of the SQL the layer sent. --what-if also times
  hand-written forms of the manager's page (the OR of the scope terms, department_tree alone,
  a union of per-term branches as ids and as whole rows like reads.py sends it on SQLite,
  SQLite's unary-plus hint) with two index sets: with the schemas' (department_id, created_at)
  index and, dropped for the measurement and restored, the one-column (department_id) index
  the schemas had before 43877dc (on an older database: as seeded and with a temporary
  composite index).

--write-docs replaces this run's block(s) in the "Permissions (issue 3)" section of
docs/benchmarks.md (created before "# First run" if missing); prose outside the
<!-- perm:... --> markers is kept. --docs-from FILE.json ... does the same from saved --json
results without measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as py_platform
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import sqlalchemy as sa

from bench_query import Recorder, summarize
from benchlib import ROOT, STAGES, environment, make_platform, pct, peak_rss_mb, say, timed

PAGE = 50
CAP = 10_000
TARGET_MASK_MS = 1.0
TARGET_QUERY_MS = 50.0
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Permissions (issue 3)"

# The measured role set: a sales rep who also holds a regional key-account role that masks
# contact details, hides money and notes, and makes the stage read-only.
MEASURED_ROLE = "key_account_east"
MEASURED_ROLES = frozenset({"sales_rep", MEASURED_ROLE})
MEASURED_RULES = {
    "mobile": "masked",
    "email": "masked",
    "expected_value": "hidden",
    "remarks": "hidden",
    "address": "hidden",
    "stage": "read",
}
FIELD_ROWS = {  # what platform.permissions.set_field_access stores per level
    "hidden": [("read", "deny"), ("mask", "deny")],
    "masked": [("read", "deny"), ("mask", "allow")],
    "read": [("read", "allow"), ("write", "deny")],
    "write": [("read", "allow"), ("write", "allow")],
}
# Modules a plugin-rich installation has besides the CRM five (fields are illustrative).
EXTRA_MODULES = {
    name: ("title", "amount", "status", "owner_id", "department_id", "signed_at", "due_at",
           "remarks", "contact", "customer", "discount", "currency", "region", "approved_by")
    for name in ("contract", "invoice", "product", "order", "quote", "campaign", "lead",
                 "ticket", "project", "payment")
}  # fmt: skip
AREAS = ("east", "north", "south", "west", "central", "overseas", "hq", "online")
KINDS = ("key_account", "channel", "inside_sales", "presales", "support", "finance", "ops",
         "intern", "partner", "analyst", "trainer", "auditor", "director", "coordinator")  # fmt: skip
MODULE_ACTIONS = ("view", "create", "edit", "delete", "import", "export", "assign")
SCOPES = ("own", "team", "department", "department_tree", "all")


# -- masks --------------------------------------------------------------------------------------


def policy_rows(
    entities: dict[str, tuple[str, ...]], target: int, users: int, seed: int = 3
) -> list[tuple[str, str, str, str, str, str, str]]:
    """Default policies plus generated custom roles until `target` p lines, then users.
    Rows as gx_policy holds them: (ptype, v0..v5)."""
    from guanxi.auth.vocabulary import Contribution, scope_text
    from guanxi.defaults import permissions as defaults

    rnd = random.Random(seed)
    contribution = Contribution.parse("defaults", defaults.register_actions())
    rows: list[tuple[str, ...]] = [("p", *g) for g in contribution.grants]
    rows += [("p2", r, e, a, scope_text(s), eft) for r, e, a, s, eft in contribution.scopes]
    rows += [("g", child, parent) for child, parent in contribution.inherits]
    rows += [tuple(r) for r in contribution.rules]

    def p_count() -> int:
        return sum(1 for r in rows if r[0] == "p")

    # the measured role: customer module + field rules of set_field_access
    rows += [("p", MEASURED_ROLE, "customer", a, "allow") for a in ("view", "edit", "export")]
    rows += [("p", MEASURED_ROLE, "contact", a, "allow") for a in ("view", "edit")]
    rows += [("p", MEASURED_ROLE, "customer.*", "read", "allow")]
    for key, level in MEASURED_RULES.items():
        rows += [("p", MEASURED_ROLE, f"customer.{key}", a, e) for a, e in FIELD_ROWS[level]]
    rows += [("p2", MEASURED_ROLE, "customer", "*", "department_tree", "allow")]
    roles = [MEASURED_ROLE]
    names = [f"{kind}_{area}" for kind in KINDS for area in AREAS]
    rnd.shuffle(names)
    all_entities = list(entities)
    for name in names:
        if p_count() >= target:
            break
        if name == MEASURED_ROLE:
            continue
        roles.append(name)
        chosen = rnd.sample(all_entities, rnd.randint(3, 7))
        for entity in chosen:
            for action in rnd.sample(MODULE_ACTIONS, rnd.randint(1, 5)):
                rows.append(("p", name, entity, action, "allow"))
            rows.append(("p", name, f"{entity}.*", "read", "allow"))
            if rnd.random() < 0.6:
                rows.append(("p", name, f"{entity}.*", "write", "allow"))
            if rnd.random() < 0.2:
                rows.append(("p", name, entity, rnd.choice(("delete", "export")), "deny"))
            rows.append(("p2", name, entity, "*", rnd.choice(SCOPES), "allow"))
        for entity in rnd.sample(chosen, min(2, len(chosen))):
            for key in rnd.sample(entities[entity], rnd.randint(1, 4)):
                level = rnd.choice(("hidden", "masked", "read", "read"))
                rows += [("p", name, f"{entity}.{key}", a, e) for a, e in FIELD_ROWS[level]]
        if rnd.random() < 0.05:
            rows.append(("p", name, "*", "view", "allow"))
        if rnd.random() < 0.05:
            rows.append(("p", name, "*", "export", "deny"))
        if rnd.random() < 0.05:
            rows.append(("p", name, "*.remarks", "read", "deny"))
        if rnd.random() < 0.3:
            rows.append(("g", name, rnd.choice(("sales_rep", "marketer", "executive"))))
    base = ("sales_rep", "sales_manager", "service_agent", "marketer", "service_manager")
    for uid in range(1, users + 1):
        held = {rnd.choice(base)} | ({rnd.choice(roles)} if rnd.random() < 0.5 else set())
        if uid == 1:
            held = set(MEASURED_ROLES)
        rows += [("g", f"user:{uid}", role) for role in sorted(held)]
    out = []
    for row in rows:
        padded = (*row, *([""] * (7 - len(row))))
        out.append(padded)
    return out  # type: ignore[return-value]


def full_enforcer(rows: list[tuple[str, ...]]) -> Any:
    """casbin.Enforcer on guanxi/auth/model.conf holding every row (what the mask replaces)."""
    from guanxi.auth.grants import new_enforcer

    enforcer = new_enforcer()
    p = [[r[1], r[2], r[3], r[4] or "allow"] for r in rows if r[0] == "p"]
    p2 = [[r[1], r[2], r[3], r[4], r[5] or "allow"] for r in rows if r[0] == "p2"]
    g = [[r[1], r[2]] for r in rows if r[0] == "g"]
    enforcer.add_policies(p)
    enforcer.add_named_policies("p2", p2)
    enforcer.add_grouping_policies(g)
    return enforcer


def bench_masks(g: Any, args: argparse.Namespace) -> dict[str, Any]:
    from guanxi.actor import Actor
    from guanxi.auth.fields import FieldMask, Level
    from guanxi.auth.grants import PolicySnapshot

    snapshot = g.registry.snapshot()
    entity = snapshot.entity("customer")
    types = g.types
    entities = {
        name: tuple(f.key for f in e.fields if not f.hidden)
        for name, e in snapshot.entities.items()
    }
    entities.update(EXTRA_MODULES)
    rows = policy_rows(entities, args.policies, args.policy_users)
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r[0]] = kinds.get(r[0], 0) + 1
    roles_count = len({r[1] for r in rows if r[0] in ("p", "p2")})
    say(
        f"policies: {kinds.get('p', 0):,} p lines, {kinds.get('p2', 0):,} p2, {kinds.get('g', 0):,} g "
        f"({args.policy_users:,} users), {roles_count} roles, "
        f"{sum(1 for r in rows if r[0] == 'p' and '*' in r[2]):,} keyMatch patterns, "
        f"{sum(1 for r in rows if r[0] == 'p' and r[4] == 'deny'):,} deny lines"
    )

    page = g.records.query(Actor.system(), "customer", None, limit=PAGE)
    full_rows = [dict(r) for r in page.rows]
    n_fields = len(full_rows[0])

    # one-time cost of a mask on a fresh snapshot (what happens after every policy change)
    t_snap, t_grants, t_mask, t_total = [], [], [], []
    mask = None
    for i in range(args.mask_builds):
        t0 = time.perf_counter()
        policies = PolicySnapshot(1000 + i, rows)
        t1 = time.perf_counter()
        grants = policies.grants(MEASURED_ROLES)
        t2 = time.perf_counter()
        mask = grants.mask(entity, types)
        t3 = time.perf_counter()
        t_snap.append(t1 - t0)
        t_grants.append(t2 - t1)
        t_mask.append(t3 - t2)
        t_total.append(t3 - t0)
    assert mask is not None
    small_lines = len(grants.enforcer.get_policy())
    t0 = time.perf_counter()
    for _ in range(10_000):
        grants.mask(entity, types)
    cached_us = (time.perf_counter() - t0) / 10_000 * 1e6

    masked = sorted(mask.maskers)
    hidden = sorted(k for k in full_rows[0] if k not in mask.levels)
    say(
        f"page: {PAGE} rows x {n_fields} fields; role set {sorted(MEASURED_ROLES)}: "
        f"{len(mask.levels)} visible, masked {masked}, hidden {hidden}"
    )

    # FieldMask.apply_rows: rows hold the visible columns only (records.query selects those)
    visible_rows = [{k: v for k, v in r.items() if k in mask.levels} for r in full_rows]
    copies = [[dict(r) for r in visible_rows] for _ in range(args.mask_runs)]
    apply_rows_s = []
    for page_copy in copies:
        t0 = time.perf_counter()
        mask.apply_rows(page_copy)
        apply_rows_s.append(time.perf_counter() - t0)
    del copies
    apply_s = []
    out: list[dict[str, Any]] = []
    for _ in range(args.mask_runs):
        t0 = time.perf_counter()
        out = [mask.apply(r) for r in full_rows]
        apply_s.append(time.perf_counter() - t0)

    # what the mask replaces: the full enforcer per field per row (read, else mask)
    t0 = time.perf_counter()
    enforcer = full_enforcer(rows)
    build_full_s = time.perf_counter() - t0
    subject = "user:1"  # holds MEASURED_ROLES
    maskers = {f.key: types.for_field(f).mask for f in entity.fields}
    calls: list[float] = []

    def enforce(obj: str, act: str) -> bool:
        t = time.perf_counter()
        answer = bool(enforcer.enforce(subject, obj, act))
        calls.append(time.perf_counter() - t)
        return answer

    pages_s = []
    naive: list[dict[str, Any]] = []
    for _ in range(args.enforcer_pages):
        t0 = time.perf_counter()
        naive = []
        for record in full_rows:
            shown = {}
            for key, value in record.items():
                obj = f"customer.{key}"
                if enforce(obj, "read"):
                    shown[key] = value
                elif enforce(obj, "mask"):
                    shown[key] = maskers[key](value)
            naive.append(shown)
        pages_s.append(time.perf_counter() - t0)
    same_page = naive == out

    # the same mask computed with the full enforcer (FieldMask.build, as RoleSetGrants does)
    def level_full(key: str) -> Level:
        obj = f"customer.{key}"
        if enforcer.enforce(subject, obj, "read"):
            return Level.WRITE if enforcer.enforce(subject, obj, "write") else Level.READ
        return Level.MASKED if enforcer.enforce(subject, obj, "mask") else Level.HIDDEN

    full_build_s = []
    full_mask = None
    for _ in range(args.full_mask_builds):
        t0 = time.perf_counter()
        full_mask = FieldMask.build(entity, types, level_full)
        full_build_s.append(time.perf_counter() - t0)
    same_mask = full_mask is not None and dict(full_mask.levels) == dict(mask.levels)

    result = {
        "policies": {k: kinds.get(k, 0) for k in ("p", "p2", "g")},
        "roles": roles_count,
        "policy_users": args.policy_users,
        "keymatch_lines": sum(1 for r in rows if r[0] == "p" and "*" in r[2]),
        "deny_lines": sum(1 for r in rows if r[0] == "p" and r[4] == "deny"),
        "fields": n_fields,
        "visible": len(mask.levels),
        "masked": masked,
        "hidden": hidden,
        "apply_rows_p50_ms": pct(apply_rows_s, 50),
        "apply_rows_p95_ms": pct(apply_rows_s, 95),
        "apply_p50_ms": pct(apply_s, 50),
        "apply_p95_ms": pct(apply_s, 95),
        "mask_runs": args.mask_runs,
        "enforce_calls_per_page": len(calls) // max(args.enforcer_pages, 1),
        "enforce_p50_ms": pct(calls, 50),
        "enforce_p95_ms": pct(calls, 95),
        "enforcer_page_ms": [s * 1000 for s in pages_s],
        "enforcer_pages": args.enforcer_pages,
        "enforcer_build_ms": build_full_s * 1000,
        "same_page": same_page,
        "snapshot_p50_ms": pct(t_snap, 50),
        "grants_p50_ms": pct(t_grants, 50),
        "mask_p50_ms": pct(t_mask, 50),
        "first_mask_p50_ms": pct(t_total, 50),
        "first_mask_p95_ms": pct(t_total, 95),
        "mask_builds": args.mask_builds,
        "small_enforcer_lines": small_lines,
        "cached_mask_us": cached_us,
        "full_enforcer_mask_ms": [s * 1000 for s in full_build_s],
        "same_mask": same_mask,
    }
    page_ms = sum(pages_s) / len(pages_s) * 1000
    result["ratio_apply_rows"] = page_ms / result["apply_rows_p50_ms"]
    result["ratio_apply"] = page_ms / result["apply_p50_ms"]
    say(
        f"\nFieldMask.apply_rows (visible columns, in place): p50 {result['apply_rows_p50_ms']:.4f} ms"
        f"  p95 {result['apply_rows_p95_ms']:.4f} ms   ({args.mask_runs:,} pages)"
    )
    say(
        f"FieldMask.apply per row (30 fields -> visible): p50 {result['apply_p50_ms']:.4f} ms"
        f"  p95 {result['apply_p95_ms']:.4f} ms"
    )
    say(
        f"full enforcer per field per row: {page_ms:,.0f} ms per page "
        f"({result['enforce_calls_per_page']:,} enforce calls, p50 {result['enforce_p50_ms']:.2f} ms, "
        f"p95 {result['enforce_p95_ms']:.2f} ms each; built in {build_full_s * 1000:.0f} ms); "
        f"same page as the mask: {same_page}"
    )
    say(
        f"ratio enforcer page / apply_rows {result['ratio_apply_rows']:,.0f}x, / apply "
        f"{result['ratio_apply']:,.0f}x"
    )
    say(
        f"first mask on a fresh snapshot ({args.mask_builds} builds): p50 "
        f"{result['first_mask_p50_ms']:.2f} ms, p95 {result['first_mask_p95_ms']:.2f} ms = snapshot "
        f"{result['snapshot_p50_ms']:.2f} + small enforcer ({small_lines} lines) "
        f"{result['grants_p50_ms']:.2f} + mask {result['mask_p50_ms']:.2f} ms; cached lookup "
        f"{cached_us:.2f} us"
    )
    say(
        f"same mask computed with the full enforcer: "
        f"{', '.join(f'{v:,.0f}' for v in result['full_enforcer_mask_ms'])} ms; same levels: {same_mask}"
    )
    return result


# -- queries ------------------------------------------------------------------------------------


@dataclass
class Case:
    key: str
    title: str
    run: Callable[[Any, dict[str, Any]], Any]
    prepare: Callable[[Any, dict[str, Any]], None] | None = None
    times: dict[str, list[float]] = field(default_factory=dict)
    statements: dict[str, int] = field(default_factory=dict)
    plans: dict[str, str] = field(default_factory=dict)
    sql: dict[str, str] = field(default_factory=dict)
    index: dict[str, str] = field(default_factory=dict)
    rows: dict[str, float] = field(default_factory=dict)


def org(engine: sa.Engine) -> dict[str, Any]:
    """Managers whose subtree is a region (~50 users), one rep per region, and org figures."""
    from guanxi.auth.identity import subtree
    from guanxi.store.system_tables import department, policy, user

    with engine.connect() as c:
        departments = c.execute(sa.select(department.c.id, department.c.parent_id)).all()
        users = {
            r.id: r.department_id for r in c.execute(sa.select(user.c.id, user.c.department_id))
        }
        roles: dict[int, set[str]] = {}
        for r in c.execute(sa.select(policy.c.v0, policy.c.v1).where(policy.c.ptype == "g")):
            if r.v0.startswith("user:"):
                roles.setdefault(int(r.v0[5:]), set()).add(r.v1)
        owned = dict(
            c.execute(sa.text("SELECT owner_id, count(*) FROM e_customer GROUP BY owner_id")).all()
        )
        trees = {}
        managers = []
        divisions = []
        for uid, dept in sorted(users.items()):
            if "sales_manager" in roles.get(uid, ()):
                tree = subtree(c, dept)
                members = [u for u, d in users.items() if d in tree]
                trees[uid] = (tree, members)
                if 30 <= len(members) <= 80:
                    managers.append(uid)
                elif len(members) > 80:
                    divisions.append(uid)
    reps = []
    for uid in managers:
        tree, members = trees[uid]
        team_reps = [u for u in members if "sales_rep" in roles.get(u, ()) and owned.get(u)]
        if team_reps:
            reps.append(sorted(team_reps, key=lambda u: owned[u])[len(team_reps) // 2])
    return {
        "departments": len(departments),
        "users": len(users),
        "managers": managers,
        "reps": reps,
        "trees": {m: sorted(trees[m][0]) for m in managers},
        "subtree_users": [len(trees[m][1]) for m in managers],
        "subtree_departments": [len(trees[m][0]) for m in managers],
        "subtree_customers": [sum(owned.get(u, 0) for u in trees[m][1]) for m in managers],
        "rep_customers": [owned.get(r, 0) for r in reps],
        "owners": sum(1 for u in owned if owned[u]),
        "divisions": divisions,
        "division_users": [len(trees[m][1]) for m in divisions],
        "division_departments": [len(trees[m][0]) for m in divisions],
        "division_customers": [sum(owned.get(u, 0) for u in trees[m][1]) for m in divisions],
    }


def bench_queries(g: Any, args: argparse.Namespace) -> dict[str, Any]:
    from guanxi.actor import Actor
    from guanxi.auth.identity import load_actor

    engine = g.db.engine
    pg = engine.dialect.name == "postgresql"
    if args.analyze:
        from seed import gather_statistics

        gather_statistics(engine)
    with engine.connect() as c:
        total = c.exec_driver_sql("SELECT count(*) FROM e_customer").scalar_one()
        stats = (
            c.exec_driver_sql(
                "SELECT count(*) FROM pg_stats WHERE tablename = 'e_customer'"
            ).scalar()
            if pg
            else c.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).scalar()
        )
    info = org(engine)
    if not info["managers"]:
        raise SystemExit("no sales_manager with a ~50-user subtree: seed with seed.py --org tree")
    with engine.connect() as c:
        actors = {
            "manager": [load_actor(c, uid) for uid in info["managers"]],
            "division": [load_actor(c, uid) for uid in info["divisions"]],
            "rep": [load_actor(c, uid) for uid in info["reps"]],
            "system": [Actor.system()],
        }
    su, sc = info["subtree_users"], info["subtree_customers"]
    say(
        f"\ndatabase {engine.dialect.name}, {total:,} customers, planner statistics: "
        f"{'yes' if stats else 'none'}; org: {info['departments']} departments, {info['users']:,} "
        f"users ({info['owners']} own customers); {len(info['managers'])} region managers, subtree "
        f"{min(su)}-{max(su)} users (mean {sum(su) / len(su):.0f}), {min(sc):,}-{max(sc):,} "
        f"customers (mean {sum(sc) / len(sc):,.0f}); reps own {min(info['rep_customers'])}-"
        f"{max(info['rep_customers'])} customers"
    )

    def stage_filter(p: dict[str, Any]) -> dict[str, Any]:
        return {"field": "stage", "op": "eq", "value": p["stage"]}

    def prepare_page2(actor: Any, p: dict[str, Any]) -> None:
        p["cursor"] = g.records.query(actor, "customer", None, limit=PAGE).next_cursor

    cases = [
        Case("list", "default list page (created_at DESC, id DESC)",
             lambda a, p: g.records.query(a, "customer", None, limit=PAGE)),
        Case("list2", "list page, core sort (-created_at, name)",
             lambda a, p: g.records.query(a, "customer", None, sort=["-created_at", "name"],
                                          limit=PAGE)),
        Case("stage", "list page filtered by stage",
             lambda a, p: g.records.query(a, "customer", stage_filter(p), limit=PAGE)),
        Case("count", f"count, capped at {CAP:,}",
             lambda a, p: g.records.count(a, "customer", None, cap=CAP)),
        Case("page2", "page 2 via cursor (page 1 untimed)",
             lambda a, p: g.records.query(a, "customer", None, limit=PAGE, after=p["cursor"]),
             prepare=prepare_page2),
    ]  # fmt: skip
    if args.cases:
        keep = set(args.cases.split(","))
        cases = [c for c in cases if c.key in keep]
    kinds = [
        k
        for k in ("manager", "division", "rep", "system")
        if (not args.actors or k in args.actors.split(",")) and actors[k]
    ]
    recorder = Recorder(engine)
    rnd = random.Random(5)
    for case in cases:
        for kind in kinds:
            pool = actors[kind]
            runs = [(pool[i % len(pool)], {"stage": rnd.choice(STAGES)}) for i in range(args.runs)]
            warm = [(a, {"stage": rnd.choice(STAGES)}) for a in pool] + runs[: args.warmup]
            if case.prepare:
                for a, p in warm + runs:
                    case.prepare(a, p)
            for a, p in warm:
                case.run(a, p)
            spent = []
            for a, p in runs:
                t, _out = timed(partial(case.run, a, p))
                spent.append(t)
            case.times[kind] = spent
            a, p = runs[0]
            result = case.run(a, p)
            case.rows[kind] = (
                len(result.rows) if hasattr(result, "rows") else getattr(result, "value", 0)
            )
            explain(case, kind, recorder, engine, pg, partial(case.run, a, p))
            report(case, kind)
    explored = what_if(engine, info, args.what_if_runs) if args.what_if else None
    in_scope = {}
    for kind in kinds:
        values = [g.records.count(a, "customer", None, cap=10**7).value for a in actors[kind]]
        in_scope[kind] = sum(values) / len(values)
    say(f"\nrecords in scope (mean over the actors): {in_scope}")
    say(f"peak RSS of this process: {peak_rss_mb():.0f} MB")
    say("\n| actor | case | p50 ms | p95 ms | stmts | plan |")
    say("|---|---|---:|---:|---:|---|")
    for kind in kinds:
        for case in cases:
            say(
                f"| {kind} | {case.key} | {pct(case.times[kind], 50):.2f} | "
                f"{pct(case.times[kind], 95):.2f} | {case.statements[kind]} | {case.index[kind]} |"
            )
    env = environment(engine)
    return {
        "dialect": engine.dialect.name,
        "server": env.get("postgresql", env["sqlite"]),
        "rows": total,
        "statistics": bool(stats),
        "runs": args.runs,
        "org": {
            k: v for k, v in info.items() if k not in ("managers", "reps", "trees", "divisions")
        },
        "in_scope": in_scope,
        "peak_rss_mb": peak_rss_mb(),
        "what_if": explored,
        "cases": [
            {
                "key": c.key,
                "title": c.title,
                "results": {
                    kind: {
                        "p50": pct(c.times[kind], 50),
                        "p95": pct(c.times[kind], 95),
                        "max": max(c.times[kind]) * 1000,
                        "statements": c.statements[kind],
                        "plan_summary": c.index[kind],
                        "plan": c.plans[kind],
                        "sql": c.sql[kind],
                        "rows": c.rows[kind],
                    }
                    for kind in kinds
                },
            }
            for c in cases
        ],
    }


WHAT_IF_INDEX = "tmp_bench_department_id_created_at"
WHAT_IF_SINGLE = "tmp_bench_department_id"
WHAT_IF_COLUMNS = ["department_id", "created_at"]
ORDER = "ORDER BY created_at DESC, id DESC"
ORDER_CORE = "ORDER BY created_at DESC, name ASC NULLS LAST, id ASC"  # sort -created_at, name


def _composite_index(engine: sa.Engine) -> str | None:
    """The name of an existing (department_id, created_at) index on e_customer, if any (the
    schemas carry one since 43877dc; databases seeded before lack it)."""
    with engine.connect() as c:
        for index in sa.inspect(c).get_indexes("e_customer"):
            if list(index["column_names"]) == WHAT_IF_COLUMNS and not index.get("unique"):
                return str(index["name"])
    return None


def what_if(engine: sa.Engine, info: dict[str, Any], runs: int) -> dict[str, Any]:
    """The manager's page as hand-written SQL in a few forms, with two index sets: which change
    fixes it. A database without a (department_id, created_at) index gets a temporary one
    (dropped again); a database that has it (schemas since 43877dc) is also measured with the
    index set before that change: the composite dropped and a one-column (department_id) index
    in its place, then restored."""
    pg = engine.dialect.name == "postgresql"
    manager = info["managers"][0]
    tree = info["trees"][manager]
    keyset = "AND created_at <= ? AND (created_at < ? OR id < ?)"

    def ph(values: list[Any]) -> str:
        return ", ".join("?" for _ in values)

    def plain(
        where: str, values: list[Any], order: str = ORDER
    ) -> Callable[[str, list[Any]], tuple[str, list[Any]]]:
        return lambda k, kv: (
            f"SELECT * FROM e_customer WHERE ({where}) {k} {order} LIMIT {PAGE + 1}",
            values + kv,
        )

    def branches(k: str, kv: list[Any]) -> tuple[str, list[Any]]:
        own = f"SELECT id FROM e_customer WHERE owner_id = ? {k} {ORDER} LIMIT {PAGE + 1}"
        dept = (
            f"SELECT id FROM e_customer WHERE department_id IN ({ph(tree)}) {k} {ORDER} "
            f"LIMIT {PAGE + 1}"
        )
        sql = (
            f"SELECT * FROM e_customer WHERE id IN (SELECT id FROM ({own}) AS own_branch "
            f"UNION ALL SELECT id FROM ({dept}) AS tree_branch) {ORDER} LIMIT {PAGE + 1}"
        )
        return sql, [manager, *kv, *tree, *kv]

    def layer_union(
        order: str = ORDER, per_department: bool = False
    ) -> Callable[[str, list[Any]], tuple[str, list[Any]]]:
        """The shape reads.py `_merged_branches` sends on SQLite: a UNION of whole rows of one
        ordered, limited SELECT per scope branch, ordered and limited again; per_department
        splits the department_tree branch into one branch per department (`department_id =`)."""

        def make(k: str, kv: list[Any]) -> tuple[str, list[Any]]:
            own = f"SELECT * FROM e_customer WHERE owner_id = ? {k} {order} LIMIT {PAGE + 1}"
            parts, values = [own], [manager, *kv]
            for where, args in (
                [("department_id = ?", [d]) for d in tree]
                if per_department
                else [(f"department_id IN ({ph(tree)})", list(tree))]
            ):
                parts.append(f"SELECT * FROM e_customer WHERE {where} {k} {order} LIMIT {PAGE + 1}")
                values += [*args, *kv]
            union = " UNION ".join(
                f"SELECT * FROM ({part}) AS branch{i}" for i, part in enumerate(parts)
            )
            return f"SELECT * FROM ({union}) AS scoped {order} LIMIT {PAGE + 1}", values

        return make

    with engine.connect() as c:
        empty = c.exec_driver_sql(
            "SELECT d.id FROM gx_department d WHERE NOT EXISTS "
            "(SELECT 1 FROM e_customer e WHERE e.department_id = d.id) ORDER BY d.id LIMIT 1"
        ).scalar()
    generated = f"owner_id = ? OR department_id IN ({ph(tree)})"
    variants: list[tuple[str, Callable[[str, list[Any]], tuple[str, list[Any]]]]] = [
        ("OR form: owner_id = me OR department_id IN (subtree) (PostgreSQL's page; SQLite's "
         "before 43877dc)",
         plain(generated, [manager, *tree])),
        ("department_tree alone (no inherited own scope)",
         plain(f"department_id IN ({ph(tree)})", list(tree))),
        ("rewrite: id IN (own branch LIMIT 51 UNION ALL subtree branch LIMIT 51)", branches),
        ("UNION of per-branch SELECT * … LIMIT 51 (SQLite's page since 43877dc)",
         layer_union()),
        ("OR form, subtree without customers (worst case below)",
         plain("owner_id = ? OR department_id IN (?)", [manager, empty])),
        # the core benchmark's sort (-created_at, name): page 1 only (reference: the OR form)
        ("core sort (-created_at, name), OR form", plain(generated, [manager, *tree], ORDER_CORE)),
        ("core sort, UNION of per-branch SELECT * (SQLite's page since 43877dc)",
         layer_union(ORDER_CORE)),
        ("core sort, UNION with one branch per subtree department (department_id = ?)",
         layer_union(ORDER_CORE, per_department=True)),
    ]  # fmt: skip
    if not pg:
        variants += [
            ("SQLite hint: +owner_id = me OR +department_id IN (subtree)",
             plain(f"+owner_id = ? OR +department_id IN ({ph(tree)})", [manager, *tree])),
            ("SQLite hint, subtree without customers",
             plain("+owner_id = ? OR +department_id IN (?)", [manager, empty])),
        ]  # fmt: skip

    def run(sql: str, values: list[Any]) -> list[Any]:
        if pg:
            sql = sql.replace("?", "%s")
        with engine.connect() as c:
            return c.exec_driver_sql(sql, tuple(values)).fetchall()

    def ddl(statements: list[str]) -> None:
        with engine.connect() as c:
            t0 = time.perf_counter()
            for statement in statements:
                c.exec_driver_sql(statement)
            c.commit()
        say(f"\nwhat-if: {'; '.join(statements)} in {time.perf_counter() - t0:.1f}s")

    first = run(*variants[0][1]("", []))
    last = first[PAGE - 1]
    cursor = [last.created_at, last.created_at, last.id]
    want = {"": [r.id for r in first], "k": [r.id for r in run(*variants[0][1](keyset, cursor))]}
    core = next(make for name, make in variants if name.startswith("core sort"))
    want["core"] = [r.id for r in run(*core("", []))]
    results = []
    existing = _composite_index(engine)
    composite = f"({', '.join(WHAT_IF_COLUMNS)})"
    # (phase, DDL before, DDL after)
    phases: list[tuple[str, list[str], list[str]]]
    if existing:
        mode = "existing"
        phases = [
            (f"as seeded: {existing}", [], []),
            ("before 43877dc: (department_id) instead of (department_id, created_at)",
             [f"DROP INDEX {existing}",
              f"CREATE INDEX {WHAT_IF_SINGLE} ON e_customer (department_id)"],
             [f"DROP INDEX {WHAT_IF_SINGLE}",
              f"CREATE INDEX {existing} ON e_customer {composite}"]),
        ]  # fmt: skip
    else:
        mode = "temporary"
        phases = [
            ("indexes as seeded", [], []),
            (f"+ index {composite}",
             [f"CREATE INDEX {WHAT_IF_INDEX} ON e_customer {composite}"],
             [f"DROP INDEX {WHAT_IF_INDEX}"]),
        ]  # fmt: skip
    for phase, before, after in phases:
        if before:
            ddl(before)
        try:
            for name, make in variants:
                for page, (k, kv) in (("page 1", ("", [])), ("page 2", (keyset, cursor))):
                    if name.startswith("core sort") and k:
                        results.append({"phase": phase, "variant": name, "page": page,
                                        "p50": None, "p95": None, "same_rows": None,
                                        "plan": "", "summary": ""})  # fmt: skip
                        continue
                    sql, values = make(k, kv)
                    for _ in range(3):
                        rows = run(sql, values)
                    spent = [timed(partial(run, sql, values))[0] for _ in range(runs)]
                    # (a subtree without customers returns other rows by design: not compared)
                    same = (
                        None
                        if "without" in name
                        else [r.id for r in rows]
                        == want["core" if name.startswith("core") else "k" if k else ""]
                    )
                    prefix = "EXPLAIN (ANALYZE, COSTS OFF) " if pg else "EXPLAIN QUERY PLAN "
                    with engine.connect() as c:
                        plan_rows = c.exec_driver_sql(
                            prefix + (sql.replace("?", "%s") if pg else sql), tuple(values)
                        ).fetchall()
                    plan = "\n".join(r[0] if pg else r[-1] for r in plan_rows)
                    results.append(
                        {
                            "phase": phase,
                            "variant": name,
                            "page": page,
                            "p50": pct(spent, 50),
                            "p95": pct(spent, 95),
                            "same_rows": same,
                            "plan": plan,
                            "summary": _summary(plan, pg),
                        }
                    )
                    r = results[-1]
                    say(
                        f"what-if [{phase}] {name}, {page}: p50 {r['p50']:.2f} ms p95 "
                        f"{r['p95']:.2f} ms; same rows {same}; {r['summary']}"
                    )
        finally:
            if after:
                ddl(after)
    return {"manager": manager, "subtree": tree, "empty_department": empty, "runs": runs,
            "mode": mode, "index": existing, "results": results}  # fmt: skip


def explain(
    case: Case, kind: str, recorder: Recorder, engine: sa.Engine, pg: bool, call: Callable[[], Any]
) -> None:
    seen = recorder.capture(call)
    case.statements[kind] = len(seen)
    mine = [(s, v) for s, v in seen if "e_customer" in s]
    prefix = "EXPLAIN (ANALYZE, COSTS OFF, BUFFERS) " if pg else "EXPLAIN QUERY PLAN "
    texts = []
    with engine.connect() as c:
        for statement, values in mine:
            rows = c.exec_driver_sql(prefix + statement, values).fetchall()
            texts.append("\n".join(r[0] for r in rows) if pg else "\n".join(r[-1] for r in rows))
        if pg:
            c.rollback()
    case.plans[kind] = "\n---\n".join(texts)
    case.index[kind] = " / ".join(_summary(t, pg) for t in texts)
    case.sql[kind] = "\n---\n".join(_inline(s, v) for s, v in mine)


def _summary(plan: str, pg: bool) -> str:
    inner = _inner(plan, pg)
    text = summarize(inner, pg)
    if not pg and "MULTI-INDEX OR" in inner:
        text = f"MULTI-INDEX OR ({text})"
    if pg and "BitmapOr" in inner:
        text = f"BitmapOr ({text})"
    return text


def _inner(plan: str, pg: bool) -> str:
    """The part of a plan for the page query itself: the outer query that adds the tags to
    the 51 rows of the page (and sorts those again) is left out of the summary."""
    if pg:
        inner = plan.split("SubPlan", 1)[0]
        start = inner.find("->  Limit")
        if start < 0 or "Subquery Scan on page" not in inner:
            return plan
        m = re.search(r"Execution Time: .*", plan)
        return inner[start:] + ("\n" + m.group(0) if m else "")
    return re.split(r"^SCAN page$", plan, maxsplit=1, flags=re.M)[0]


def _short(sql: str) -> str:
    """What follows FROM e_customer in each statement (the select lists are long)."""
    parts = []
    for statement in sql.split("\n---\n"):
        m = re.search(r"FROM e_customer\b(.*?)(?=\) AS (?:page|anon_1)|$)", statement, re.S)
        parts.append("… FROM e_customer " + " ".join((m.group(1) if m else statement).split()))
    return "\n         ".join(parts)


def _inline(statement: str, values: Any) -> str:
    """The statement with its parameters written in, for reading (not for running)."""
    if isinstance(values, dict):
        return re.sub(r"%\((\w+)\)s", lambda m: repr(values.get(m.group(1))), statement)
    items = iter(values or ())
    return re.sub(r"\?", lambda m: repr(next(items, "?")), statement)


def report(case: Case, kind: str) -> None:
    t = case.times[kind]
    say(f"\n== {kind} / {case.key}: {case.title}")
    say(
        f"   p50 {pct(t, 50):8.2f} ms  p95 {pct(t, 95):8.2f} ms  max {max(t) * 1000:8.2f} ms   "
        f"({case.statements[kind]} statements per call; {case.rows[kind]} rows/value)"
    )
    say(f"   plan: {case.index[kind]}")
    say("   sql:  " + _short(case.sql[kind]))
    say("      " + case.plans[kind].replace("\n", "\n      "))


# -- docs ---------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    def first(path: str, prefix: str) -> str | None:
        try:
            with open(path, encoding="utf-8") as fh:
                return next((line for line in fh if line.startswith(prefix)), None)
        except OSError:
            return None

    line = first("/proc/cpuinfo", "model name")
    cpu = line.split(":", 1)[1].strip() if line else "?"
    line = first("/proc/meminfo", "MemTotal")
    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB" if line else "?"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        ).stdout.count("\n")
    except OSError:
        commit, dirty = "?", 0
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": mem,
        "python": py_platform.python_version(),
        "git": f"{commit} + {dirty} changed files" if dirty else commit,
        "load": "/".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def masks_block(m: dict[str, Any], env: dict[str, str], command: str) -> str:
    verdict = "met" if m["apply_rows_p95_ms"] <= TARGET_MASK_MS else "NOT met"
    verdict_full = "met" if m["apply_p95_ms"] <= TARGET_MASK_MS else "NOT met"
    full_mask = ", ".join(f"{v:,.0f}" for v in m["full_enforcer_mask_ms"])
    enforcer_page = sum(m["enforcer_page_ms"]) / len(m["enforcer_page_ms"])
    return "\n".join(
        [
            f"### Field masks ({env['date']}, git {env['git']})",
            "",
            f"`{command}`",
            "",
            f"Policies: {m['policies']['p']:,} p lines ({m['keymatch_lines']} keyMatch patterns such as "
            f"`customer.*`, `*`; {m['deny_lines']} deny lines), {m['policies']['p2']:,} p2 scope rows, "
            f"{m['policies']['g']:,} g rows ({m['policy_users']:,} users -> roles, role inheritance), "
            f"{m['roles']} roles. Measured role set `sales_rep` + `{MEASURED_ROLE}`: of "
            f"{m['fields']} fields, {m['visible']} visible, masked {', '.join(m['masked'])}, "
            f"hidden {', '.join(m['hidden'])}. Page: 50 real customer rows from the database.",
            "",
            "| what | p50 | p95 | target |",
            "|---|---:|---:|---|",
            f"| `FieldMask.apply_rows`, 50 rows x {m['visible']} visible columns (the list path) | "
            f"{m['apply_rows_p50_ms'] * 1000:.0f} µs | {m['apply_rows_p95_ms'] * 1000:.0f} µs | "
            f"≤ 1 ms: **{verdict}** |",
            f"| `FieldMask.apply` per row, 50 rows x {m['fields']} fields -> {m['visible']} | "
            f"{m['apply_p50_ms'] * 1000:.0f} µs | {m['apply_p95_ms'] * 1000:.0f} µs | ≤ 1 ms: "
            f"**{verdict_full}** |",
            f"| full `casbin.Enforcer` per field per row (read, else mask): "
            f"{m['enforce_calls_per_page']:,} `enforce()` calls | {enforcer_page:,.0f} ms per page "
            f"({m['enforcer_pages']} page{'s' if m['enforcer_pages'] > 1 else ''}) | | |",
            f"| one `enforce()` of the full enforcer | {m['enforce_p50_ms']:.2f} ms | "
            f"{m['enforce_p95_ms']:.2f} ms | |",
            f"| **ratio** enforcer page / `apply_rows` p50 | **{m['ratio_apply_rows']:,.0f}×** | | |",
            f"| ratio enforcer page / `apply` p50 | {m['ratio_apply']:,.0f}× | | |",
            f"| first mask of a role set on a fresh `PolicySnapshot` ({m['mask_builds']} builds): "
            f"snapshot + `RoleSetGrants` (small enforcer, {m['small_enforcer_lines']} lines) + "
            f"`mask()` | {m['first_mask_p50_ms']:.2f} ms | {m['first_mask_p95_ms']:.2f} ms | |",
            f"| of which snapshot / small enforcer / mask (p50) | {m['snapshot_p50_ms']:.2f} / "
            f"{m['grants_p50_ms']:.2f} / {m['mask_p50_ms']:.2f} ms | | |",
            f"| cached `RoleSetGrants.mask()` | {m['cached_mask_us']:.2f} µs | | |",
            f"| the same mask built with the full enforcer | {full_mask} ms | | |",
            "",
            f"Load average (1/5/15 min) before / after: {env['load']} / {m.get('load_after', '?')}. "
            f"Building the full enforcer took {m['enforcer_build_ms']:,.0f} ms. The per-field "
            f"enforcer page equals the masked page: **{m['same_page']}**; the mask from the full "
            f"enforcer has the same levels as `RoleSetGrants.mask`: **{m['same_mask']}**.",
        ]
    )


NAMES = {"manager": "sales_manager (department_tree), region",
         "division": "sales_manager (department_tree), division",
         "rep": "sales_rep (own)", "system": "system actor (no scope)"}  # fmt: skip


def queries_block(q: dict[str, Any], env: dict[str, str], command: str) -> str:
    o = q["org"]
    su, sc, rc = o["subtree_users"], o["subtree_customers"], o["rep_customers"]
    label = "SQLite" if q["dialect"] == "sqlite" else "PostgreSQL"
    lines = [
        f"### Scoped list queries, {label} {q['server']} ({env['date']}, git {env['git']})",
        "",
        f"`{command}`",
        "",
        f"{q['rows']:,} customers; planner statistics: {'yes' if q['statistics'] else 'none'}. "
        f"Org: {o['departments']} departments, {o['users']:,} users ({o['owners']} own customers). "
        f"Managers: the {len(su)} region managers in turn, subtree {min(su)}–{max(su)} users "
        f"(mean {sum(su) / len(su):.0f}) in {_span(o['subtree_departments'])} departments, "
        f"{min(sc):,}–{max(sc):,} customers; "
        + (
            f"division heads: the {len(o['division_users'])} in turn, subtree "
            f"{_span(o['division_users'])} users in {_span(o['division_departments'])} "
            f"departments, {min(o['division_customers']):,}–{max(o['division_customers']):,} "
            "customers; "
            if o.get("division_users")
            else ""
        )
        + "reps: "
        f"one per region, {min(rc)}–{max(rc)} customers each. {q['runs']} runs per cell after "
        f"a warm-up of every actor. Times in ms, wall clock in the caller. Load average "
        f"(1/5/15 min) before / after: {env['load']} / {q.get('load_after', '?')}.",
        "",
        "| case | " + " | ".join(f"{NAMES[k]} p50 / p95" for k in q["cases"][0]["results"]) + " |",
        "|---|" + "---:|" * len(q["cases"][0]["results"]),
    ]
    for case in q["cases"]:
        cells = []
        for kind, r in case["results"].items():
            p95 = f"{r['p95']:.2f}"
            if kind != "system" and r["p95"] > TARGET_QUERY_MS:
                p95 = f"**{p95}**"
            cells.append(f"{r['p50']:.2f} / {p95}")
        lines.append(f"| {case['title']} | " + " | ".join(cells) + " |")
    lines += ["", "Access paths (summary of the plan of the layer's SQL):", ""]
    lines += ["| case | " + " | ".join(NAMES[k] for k in q["cases"][0]["results"]) + " |",
              "|---|" + "---|" * len(q["cases"][0]["results"])]  # fmt: skip
    for case in q["cases"]:
        lines.append(
            f"| {case['key']} | "
            + " | ".join(r["plan_summary"] for r in case["results"].values())
            + " |"
        )
    explored = q.get("what_if")
    if explored:
        lines += [
            "",
            f"What fixes the manager's page: hand-written SQL for region manager "
            f"{explored['manager']} (subtree departments {explored['subtree']}), "
            f"{explored['runs']} runs each, `SELECT *`, page 2 by the keyset of page 1; "
            + (
                f"the index set before 43877dc was made for the measurement ({explored['index']} "
                "dropped, a one-column `(department_id)` index in its place) and restored "
                "afterwards:"
                if explored.get("mode") == "existing"
                else "the index was created for the measurement and dropped again:"
            ),
            "",
            "| indexes | SQL form | page 1 p50 / p95 | page 2 p50 / p95 | plan (page 1) |",
            "|---|---|---:|---:|---|",
        ]
        results = explored["results"]
        for i in range(0, len(results), 2):
            one, two = results[i], results[i + 1]
            mark = " (different rows!)" if False in (one["same_rows"], two["same_rows"]) else ""
            second = "–" if two["p50"] is None else f"{two['p50']:.2f} / {two['p95']:.2f}"
            lines.append(
                f"| {one['phase']} | {one['variant']}{mark} | {one['p50']:.2f} / {one['p95']:.2f} | "
                f"{second} | {one['summary']} |"
            )
    missed = [
        (case["title"], kind, r["p95"])
        for case in q["cases"]
        for kind, r in case["results"].items()
        if kind != "system" and r["p95"] > TARGET_QUERY_MS
    ]
    lines.append("")
    if missed:
        lines.append(
            "Target p95 ≤ 50 ms: **not met** for "
            + "; ".join(f"{t} as {k} ({p:.1f} ms)" for t, k, p in missed)
            + "."
        )
    else:
        lines.append("Target p95 ≤ 50 ms with scopes: **met** in every case.")
    return "\n".join(lines)


def make_blocks(out: dict[str, Any], env: dict[str, str], command: str) -> dict[str, str]:
    blocks = {}
    if "masks" in out:
        blocks["masks"] = masks_block(out["masks"], env, command)
    if "queries" in out:
        q = out["queries"]
        key = q["dialect"] + ("-analyzed" if q["dialect"] == "sqlite" and q["statistics"] else "")
        blocks[key] = queries_block(q, env, command)
    return blocks


def _span(values: list[int]) -> str:
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}–{max(values)}"


def _section_end(text: str, position: int) -> int:
    """Where the next `#` or `##` heading after `position` starts (len(text) if none); lines
    inside ``` fences are not headings (shell comments in a code block start with "# ")."""
    fenced = False
    offset = position
    for line in text[position:].splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,2} ", line) and offset > position:
            return offset
        offset += len(line)
    return len(text)


def write_docs(blocks: dict[str, str]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    if SECTION not in text:
        section = (
            f"{SECTION}\n\nMeasured by `bench/bench_permissions.py` (blocks between the markers are "
            "rewritten by `--write-docs`).\n"
        )
        anchor = text.find("\n# First run")
        if anchor < 0:
            text = text.rstrip("\n") + "\n\n" + section
        else:
            text = text[: anchor + 1] + section + "\n" + text[anchor + 1 :]
    start = text.index(SECTION)
    end = _section_end(text, start + len(SECTION))
    body = text[start:end]
    for name, block in blocks.items():
        begin, finish = f"<!-- perm:{name}:begin -->", f"<!-- perm:{name}:end -->"
        content = f"{begin}\n{block}\n{finish}"
        if begin in body and finish in body:
            body = body[: body.index(begin)] + content + body[body.index(finish) + len(finish) :]
        else:
            body = body.rstrip("\n") + "\n\n" + content + "\n"
    if not body.endswith("\n\n"):
        body = body.rstrip("\n") + "\n\n"
    DOCS.write_text(text[:start] + body + text[end:].lstrip("\n"), encoding="utf-8")
    say(f"updated {DOCS} ({', '.join(blocks)})")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", help="database URL (not needed with --docs-from)")
    ap.add_argument(
        "--docs-from",
        nargs="+",
        metavar="JSON",
        help="write the docs blocks from earlier --json results instead of measuring",
    )
    ap.add_argument("--only", choices=("masks", "queries"), help="one part (default: both)")
    ap.add_argument("--runs", type=int, default=50, help="query runs per case and actor")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--cases", help="comma-separated: list,list2,stage,count,page2")
    ap.add_argument("--actors", help="comma-separated: manager,division,rep,system")
    ap.add_argument("--analyze", action="store_true", help="ANALYZE first (SQLite: sqlite_stat1)")
    ap.add_argument("--policies", type=int, default=2000, help="p lines for the mask part")
    ap.add_argument("--policy-users", type=int, default=1000)
    ap.add_argument("--mask-runs", type=int, default=2000, help="pages for apply/apply_rows")
    ap.add_argument("--mask-builds", type=int, default=30, help="fresh-snapshot mask builds")
    ap.add_argument("--full-mask-builds", type=int, default=3)
    ap.add_argument(
        "--enforcer-pages", type=int, default=1, help="pages checked with the full enforcer"
    )
    ap.add_argument(
        "--what-if",
        action="store_true",
        help="also time hand-written forms of the manager's page, with and without the "
        "(department_id, created_at) index (dropped for the measurement and restored)",
    )
    ap.add_argument("--what-if-runs", type=int, default=20)
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--write-docs", action="store_true", help=f"update {SECTION!r} in docs")
    args = ap.parse_args()

    if args.docs_from:
        blocks = {}
        for path in args.docs_from:
            with open(path, encoding="utf-8") as fh:
                saved = json.load(fh)
            blocks.update(make_blocks(saved, saved["machine"], saved.get("command", "?")))
        write_docs(blocks)
        return 0
    if not args.url:
        ap.error("--url is required")
    command = "bench/bench_permissions.py " + " ".join(
        a if not a.startswith(("sqlite:", "postgresql")) else _redact(a) for a in sys.argv[1:]
    )
    env = machine()
    say(
        f"{env['date']}; {env['nproc']} CPUs ({env['cpu']}), {env['ram']} RAM, "
        f"Python {env['python']}, git {env['git']}; load average {env['load']}"
    )
    g = make_platform(args.url)
    out: dict[str, Any] = {"machine": env, "command": command, "env": environment(g.db.engine)}
    if args.only in (None, "masks"):
        out["masks"] = bench_masks(g, args)
        out["masks"]["load_after"] = "/".join(f"{x:.1f}" for x in os.getloadavg())
    if args.only in (None, "queries"):
        out["queries"] = bench_queries(g, args)
        out["queries"]["load_after"] = "/".join(f"{x:.1f}" for x in os.getloadavg())
    g.close()
    blocks = make_blocks(out, env, command)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, ensure_ascii=False, indent=1, default=str)
    if args.write_docs:
        write_docs(blocks)
    return 0


def _redact(url: str) -> str:
    """The URL with a port-free host: the throwaway cluster's port means nothing later."""
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", url)


if __name__ == "__main__":
    sys.exit(main())
