"""A plugin with test jobs. Each run appends a row to t_job_hit (created on first use), so
tests can count how often each task ran and on which worker."""

from __future__ import annotations

import os
import time
from typing import Any

import sqlalchemy as sa

from guanxi.api import hookimpl
from guanxi.jobs import JobContext, RetryLater

hits = sa.Table(
    "t_job_hit",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job", sa.String(100), nullable=False),
    sa.Column("task_id", sa.Integer, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("worker", sa.String(100), nullable=False),
    sa.Column("due_at", sa.DateTime),
)


def record(ctx: JobContext) -> None:
    with ctx.platform.db.unit_of_work() as connection:
        connection.execute(
            sa.insert(hits).values(
                job=ctx.job,
                task_id=ctx.task_id,
                attempt=ctx.attempt,
                worker=ctx.worker,
                due_at=ctx.due_at,
            )
        )


def hit(ctx: JobContext) -> dict[str, Any]:
    record(ctx)
    time.sleep(float(ctx.payload.get("sleep", 0)))
    return {"ok": True}


def flaky(ctx: JobContext) -> None:
    record(ctx)
    if ctx.attempt <= int(ctx.payload.get("fail_times", 2)):
        raise RuntimeError(f"receiver down (attempt {ctx.attempt})")


def later(ctx: JobContext) -> None:
    record(ctx)
    if ctx.attempt == 1:
        raise RetryLater(600, "not yet")


def crash_once(ctx: JobContext) -> None:
    """The first attempt kills its whole process mid-run, as a power cut would."""
    record(ctx)
    if ctx.attempt == 1:
        os._exit(17)


@hookimpl
def startup(platform: Any) -> None:
    hits.create(platform.db.engine, checkfirst=True)


@hookimpl
def register_jobs() -> list[dict[str, Any]]:
    return [
        {"name": "test.hit", "run": hit, "retries": 0},
        {"name": "test.flaky", "run": flaky, "retries": 3, "backoff": 10},
        {"name": "test.later", "run": later, "retries": 2},
        {"name": "test.crash_once", "run": crash_once, "retries": 2, "timeout": 2},
        {"name": "test.tick", "every": "minute", "run": hit, "retries": 0},
        {"name": "test.daily", "every": "daily", "at": "02:00", "run": hit, "retries": 0},
    ]
