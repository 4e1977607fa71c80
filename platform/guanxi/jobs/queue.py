"""The job tables: queue a task, claim one under a lease, finish it. A claim is one short
write transaction; on PostgreSQL `FOR UPDATE SKIP LOCKED` lets workers claim side by side,
on SQLite the write lock (BEGIN IMMEDIATE) serializes claims."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from guanxi.jobs.spec import JobSpec
from guanxi.store.system_tables import job_run, job_task

ERROR_MAX = 4000  # characters of an error message kept per task and run


@dataclass(frozen=True)
class Claimed:
    task_id: int
    job: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    due_at: datetime
    run_id: int


def insert_task(
    connection: Connection,
    job: str,
    payload: dict[str, Any] | None,
    run_at: datetime,
    max_attempts: int,
    now: datetime,
    key: str | None = None,
) -> int | None:
    """Queue a task; with a `key` that already exists nothing is added and None returned."""
    values = {
        "job": job,
        "key": key,
        "payload": payload or {},
        "status": "queued",
        "run_at": run_at,
        "max_attempts": max_attempts,
        "attempts": 0,
        "created_at": now,
    }
    if key is None:
        return int(
            connection.execute(
                sa.insert(job_task).values(**values).returning(job_task.c.id)
            ).scalar_one()
        )
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = (
        dialect_insert(job_task)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(job_task.c.id)
    )
    found = connection.execute(statement).scalar()
    return int(found) if found is not None else None


def existing_keys(connection: Connection, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    rows = connection.execute(sa.select(job_task.c.key).where(job_task.c.key.in_(keys)))
    return {row.key for row in rows}


def claim(
    connection: Connection, specs: dict[str, JobSpec], worker: str, now: datetime
) -> Claimed | None:
    """Take the next due task (or one whose worker's lease ran out) for this worker."""
    due = sa.or_(
        sa.and_(job_task.c.status == "queued", job_task.c.run_at <= now),
        sa.and_(job_task.c.status == "running", job_task.c.lease_until < now),
    )
    candidate = (
        sa.select(
            job_task.c.id,
            job_task.c.job,
            job_task.c.status,
            job_task.c.payload,
            job_task.c.attempts,
            job_task.c.max_attempts,
            job_task.c.run_at,
        )
        .where(due, job_task.c.job.in_(list(specs)))
        .order_by(job_task.c.run_at, job_task.c.id)
        .limit(1)
    )
    if connection.dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    row = connection.execute(candidate).first()
    if row is None:
        return None
    spec = specs[row.job]
    if row.status == "running":  # its worker died or hung: that attempt is lost
        connection.execute(
            sa.update(job_run)
            .where(job_run.c.task_id == row.id, job_run.c.status == "running")
            .values(status="lost", finished_at=now, error="the worker's lease ran out")
        )
        if row.attempts >= row.max_attempts:
            connection.execute(
                sa.update(job_task)
                .where(job_task.c.id == row.id)
                .values(
                    status="failed",
                    finished_at=now,
                    lease_owner=None,
                    lease_until=None,
                    last_error="the worker's lease ran out on the last attempt",
                )
            )
            return claim(connection, specs, worker, now)
    attempt = row.attempts + 1
    taken = connection.execute(
        sa.update(job_task)
        .where(job_task.c.id == row.id, job_task.c.status == row.status)
        .values(
            status="running",
            attempts=attempt,
            lease_owner=worker,
            lease_until=now + timedelta(seconds=spec.timeout),
            started_at=now,
        )
    ).rowcount
    if not taken:  # another worker was faster (SQLite without row locks)
        return None
    run_id = int(
        connection.execute(
            sa.insert(job_run)
            .values(
                task_id=row.id,
                job=row.job,
                attempt=attempt,
                worker=worker,
                started_at=now,
                status="running",
            )
            .returning(job_run.c.id)
        ).scalar_one()
    )
    return Claimed(
        row.id, row.job, dict(row.payload or {}), attempt, row.max_attempts, row.run_at, run_id
    )


def finish(
    connection: Connection,
    claimed: Claimed,
    worker: str,
    now: datetime,
    *,
    run_status: str,
    task_status: str,
    error: str | None = None,
    retry_at: datetime | None = None,
    duration_ms: int,
) -> bool:
    """Record the run's end; False when this worker no longer held the lease (another
    worker took the task over after the lease ran out, and its result stands)."""
    error = error[:ERROR_MAX] if error else None
    values: dict[str, Any] = {
        "status": task_status,
        "lease_owner": None,
        "lease_until": None,
        "last_error": error,
    }
    if task_status == "queued":
        values["run_at"] = retry_at
    else:
        values["finished_at"] = now
    held = connection.execute(
        sa.update(job_task)
        .where(
            job_task.c.id == claimed.task_id,
            job_task.c.status == "running",
            job_task.c.lease_owner == worker,
            job_task.c.attempts == claimed.attempt,
        )
        .values(**values)
    ).rowcount
    connection.execute(
        sa.update(job_run)
        .where(job_run.c.id == claimed.run_id)
        .values(
            status=run_status if held else "lost",
            finished_at=now,
            error=error if held else "finished after its lease had run out",
            duration_ms=duration_ms,
        )
    )
    return bool(held)
