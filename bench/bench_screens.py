"""Server time of the generated screens (issue 4): a 50-row list page over 1M records and a
record's detail page, target p95 <= 100 ms; plus SQL statements per page.

    .venv/bin/python bench/bench_screens.py --url sqlite:////tmp/guanxi-bench/perm/sqlite/bench.db
    .venv/bin/python bench/bench_screens.py --url postgresql+psycopg://... --runs 100

Needs a database seeded with `seed.py --org tree` (bench/run_permissions.sh leaves one at
/tmp/guanxi-bench/perm/sqlite/bench.db). It sets a known password on one region manager, one
sales rep and the director (executive, no scope), logs each in through the real login form
and requests pages in-process with Starlette's TestClient: the time is the whole server side
(middleware, session lookup, permission checks, queries, template rendering) without a
network hop. Each actor walks through different records so caches do not flatter the result.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

from benchlib import environment, make_platform, pct, say

PASSWORD = "bench-Password-2026"
PAGES = {
    "list": "/r/customer",
    "list sorted 3 levels": "/r/customer?" + urlencode({"sort": "stage,-created_at,name"}),
    "list filtered": "/r/customer?"
    + urlencode({"filter": json.dumps({"field": "stage", "op": "eq", "value": "intention"})}),
    "list search": "/r/customer?" + urlencode({"q": "科技"}),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--json", help="write results to this file")
    args = ap.parse_args()

    from starlette.testclient import TestClient

    from guanxi.app import create_app
    from guanxi.auth.passwords import hash_password
    from guanxi.store.system_tables import user

    g = make_platform(args.url)
    engine = g.db.engine
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with g.db.unit_of_work() as c:
        chosen = {
            "manager (department tree)": c.execute(
                sa.select(user.c.username).where(user.c.username.like("manager%")).limit(1)
            ).scalar_one(),
            "sales rep (own)": c.execute(
                sa.select(user.c.username).where(user.c.username.like("sales%")).limit(1)
            ).scalar_one(),
            "executive (all)": c.execute(
                sa.select(user.c.username).where(user.c.username.like("director%")).limit(1)
            ).scalar_one(),
        }
        c.execute(
            sa.update(user)
            .where(user.c.username.in_(list(chosen.values())))
            .values(password_hash=hash_password(PASSWORD), failed_logins=0, locked_until=None)
        )
    results: dict[str, Any] = {"environment": environment(engine), "pages": []}
    with TestClient(create_app(g)) as client:
        for actor_label, username in chosen.items():
            client.cookies.clear()
            login_page = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text).group(1)
            answer = client.post(
                "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
            )
            assert answer.status_code == 200, answer.text[:300]
            first = client.get("/r/customer")
            ids = [int(i) for i in re.findall(r'href="/r/customer/(\d+)', first.text)]
            ids = list(dict.fromkeys(ids))
            assert ids, f"{username} sees no customers"
            pages = dict(PAGES)
            for index, record_id in enumerate(ids[:3]):
                pages[f"detail #{index + 1}"] = f"/r/customer/{record_id}"
            pages["detail: related contacts"] = f"/r/customer/{ids[0]}/related/contact/customer"
            pages["detail: timeline"] = f"/r/customer/{ids[0]}/timeline"
            for label, url in pages.items():
                times, counts = [], []
                for _ in range(args.runs):
                    statements.clear()
                    t0 = time.perf_counter()
                    response = client.get(url)
                    times.append(time.perf_counter() - t0)
                    counts.append(len(statements))
                    if response.status_code != 200:
                        say(f"{actor_label} {label}: HTTP {response.status_code}")
                        break
                row = {
                    "actor": actor_label,
                    "page": label,
                    "url": url,
                    "status": response.status_code,
                    "p50_ms": round(pct(times, 50), 1),
                    "p95_ms": round(pct(times, 95), 1),
                    "statements": max(counts),
                    "bytes": len(response.content),
                }
                results["pages"].append(row)
                say(
                    f"{actor_label:28} {label:26} p50 {row['p50_ms']:7.1f} ms  "
                    f"p95 {row['p95_ms']:7.1f} ms  {row['statements']:3d} statements"
                )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, ensure_ascii=False, indent=2)
    worst = max(p["p95_ms"] for p in results["pages"] if p["status"] == 200)
    say(f"worst p95: {worst} ms (target <= 100 ms)")
    g.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
