"""The JSON API (issue 5, API-01): server time of /api/v1 routes over a seeded database, and
optionally (--load) sustained throughput of `guanxi serve --workers 2` under wrk on 127.0.0.1.
Targets: a 50-row list over 1M customers p95 <= 60 ms; get-by-id >= 400 req/s.

    .venv/bin/python bench/bench_api.py --url sqlite:////tmp/guanxi-bench/sqlite/bench.db
    .venv/bin/python bench/bench_api.py --url postgresql+psycopg://... --load --duration 20

Server time: requests in-process through Starlette's TestClient with bearer tokens (auth
middleware, token look-up, rate limit, permission checks, queries, JSON), no network hop;
each run asks for a different record so caches do not flatter the result. Load: wrk with a
Lua script rotating through record ids, 2 threads / 16 connections, on the same 2 cores as
the server (so the figures are a floor). Customer views are written to the access log
(PERM-08, on by default for customers): get-by-id is measured for customers and follow-ups.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchlib import ROOT, environment, make_platform, pct, say

LISTS = {
    "list 50": "/api/v1/customer?limit=50",
    "list 50 sorted 3 keys": "/api/v1/customer?limit=50&sort=stage,-created_at,name",
    "list 50 filtered": "/api/v1/customer?limit=50&filter[stage]=intention",
    "list 50 + count": "/api/v1/customer?limit=50&count=true",
    "list 50 search": "/api/v1/customer?limit=50&q=%E7%A7%91%E6%8A%80",
}
WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%.1f %%.2f %%.2f %%d %%d\\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, summary.errors.status, summary.requests))
end
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--schema", help="PostgreSQL schema (GUANXI_DATABASE_SCHEMA)")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--load", action="store_true", help="also run wrk against guanxi serve")
    ap.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    ap.add_argument("--json", help="write results to this file")
    args = ap.parse_args()
    if args.schema:
        os.environ["GUANXI_DATABASE_SCHEMA"] = args.schema

    from starlette.testclient import TestClient

    from guanxi.actor import Actor
    from guanxi.app import create_app

    g = make_platform(args.url)
    engine = g.db.engine
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    tokens = {
        label: g.login.create_token(Actor.system(), uid, "bench").token
        for label, uid in bench_users(g).items()
    }
    results: dict[str, Any] = {"environment": environment(engine), "routes": [], "load": []}
    visible: dict[str, dict[str, list[int]]] = {}  # actor -> module -> ids they may read
    with TestClient(create_app(g)) as client:
        for label, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"}
            visible[label] = {
                module: [
                    row["id"]
                    for row in client.get(f"/api/v1/{module}?limit=200", headers=headers).json()[
                        "data"
                    ]
                ]
                for module in ("customer", "followup")
            }
            ids = visible[label]["customer"]
            assert ids, f"{label} sees no customers"
            routes = dict(LISTS)
            routes["next page (cursor)"] = client.get(LISTS["list 50"], headers=headers).json()[
                "links"
            ]["next"]
            for route, url in [*routes.items(), ("get by id", None)]:
                times, counts = [], []
                for run in range(args.runs):
                    target = url or f"/api/v1/customer/{ids[run % len(ids)]}"
                    statements.clear()
                    t0 = time.perf_counter()
                    response = client.get(target, headers=headers)
                    times.append(time.perf_counter() - t0)
                    counts.append(len(statements))
                    if response.status_code != 200:
                        say(f"{label} {route}: HTTP {response.status_code} {response.text[:200]}")
                        break
                row = {
                    "actor": label,
                    "route": route,
                    "p50_ms": round(pct(times, 50), 1),
                    "p95_ms": round(pct(times, 95), 1),
                    "statements": max(counts),
                    "status": response.status_code,
                }
                results["routes"].append(row)
                say(
                    f"{label:24} {route:24} p50 {row['p50_ms']:7.1f} ms  "
                    f"p95 {row['p95_ms']:7.1f} ms  {row['statements']:3d} statements"
                )
    worst = max(r["p95_ms"] for r in results["routes"] if r["route"].startswith("list 50"))
    say(f"worst p95 of the 50-row lists: {worst} ms (target <= 60 ms)")
    if args.load:
        label, token = next(iter(tokens.items()))  # the sales rep: the common caller
        customers, followups = visible[label]["customer"], visible[label]["followup"]
        g.close()
        with serve(args.url, args.schema) as base:
            for name, paths in (
                ("get customer by id", [f"/api/v1/customer/{i}" for i in customers]),
                ("get follow-up by id", [f"/api/v1/followup/{i}" for i in followups]),
                ("list 50 customers", [LISTS["list 50"]]),
            ):
                if not paths:
                    continue
                outcome = run_wrk(base, paths, token, args.duration)
                outcome.update(route=name, actor=label)
                results["load"].append(outcome)
                say(
                    f"wrk {name:22} {outcome['rps']:8.1f} req/s  p50 {outcome['p50_ms']:6.1f} ms"
                    f"  p95 {outcome['p95_ms']:6.1f} ms  non-2xx {outcome['errors']}"
                )
    else:
        g.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


def bench_users(g: Any) -> dict[str, int]:
    """A sales rep (own scope), a manager (department tree) and a user who sees everything
    (a director of `seed.py --org tree`, else an admin made for the benchmark)."""
    from guanxi.actor import Actor
    from guanxi.auth import identity
    from guanxi.store.system_tables import user

    chosen: dict[str, int] = {}
    with g.db.read() as c:
        for label, pattern in (
            ("sales rep (own)", "sales%"),
            ("manager (tree)", "manager%"),
            ("director (all)", "director%"),
        ):
            found = c.execute(
                sa.select(user.c.id).where(user.c.username.like(pattern)).order_by(user.c.id)
            ).scalar()
            if found is not None:
                chosen[label] = int(found)
        admin = c.execute(sa.select(user.c.id).where(user.c.username == "bench_api")).scalar()
    if "director (all)" not in chosen:
        if admin is None:
            admin = identity.create_user(g.db, "bench_api", "bench api")
            g.permissions.assign_role(Actor.system(), admin, "admin")
        chosen["admin (all)"] = int(admin)
    return chosen


class serve:
    """`guanxi serve --workers 2` on a free port of 127.0.0.1, stopped on exit."""

    def __init__(self, url: str, schema: str | None) -> None:
        self.url, self.schema = url, schema
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {
            **os.environ,
            "GUANXI_DATABASE_URL": self.url,
            "GUANXI_SECRET_KEY": "bench-api-signing-key-of-at-least-32-chars",
            "GUANXI_API_RATE_LIMIT": "1000000000",
        }
        if self.schema:
            env["GUANXI_DATABASE_SCHEMA"] = self.schema
        self.log = tempfile.NamedTemporaryFile(prefix="bench-api-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/guanxi"), "serve", "--workers", "2", "--port", str(port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                time.sleep(1)  # both workers up
                return base
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"guanxi serve did not start; see {self.log.name}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


def run_wrk(base: str, paths: list[str], token: str, duration: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    script = WRK_SCRIPT % ",".join(json.dumps(path) for path in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{duration}s",
            "-s",
            handle.name,
            "-H",
            f"Authorization: Bearer {token}",
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(handle.name)
    found = re.search(r"RESULT (\S+) (\S+) (\S+) (\d+) (\d+)", output)
    assert found, output
    rps, p50, p95, errors, requests = found.groups()
    return {
        "rps": float(rps),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "errors": int(errors),
        "requests": int(requests),
    }


if __name__ == "__main__":
    sys.exit(main())
