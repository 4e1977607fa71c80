"""JobRunner: the jobs plugins registered, queueing, and running what is due. `run_due` does
one pass in the calling thread (tests, `guanxi jobs run`); JobWorker loops over it in a
background thread (web workers) or in the foreground (`guanxi worker`)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time as timer
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import audit
from guanxi.errors import NotFound
from guanxi.i18n import _
from guanxi.jobs import queue
from guanxi.jobs.schedule import current_due, periodic_key, retry_delay, spec_from_dict
from guanxi.jobs.spec import JobContext, JobSpec, RetryLater
from guanxi.ops.logs import log_fields
from guanxi.store.system_tables import job_run, job_task

if TYPE_CHECKING:
    from guanxi.core import Guanxi

log = logging.getLogger("guanxi.jobs")


@dataclass(frozen=True)
class RunOutcome:
    job: str
    task_id: int
    attempt: int
    status: str  # ok | retry (failed, will run again) | failed (no attempts left) | lost
    error: str | None = None
    result: Any = None


def worker_name(label: str = "") -> str:
    """host:pid[:label] - unique per process, readable in the run log."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    return f"{name}:{label}" if label else name


class JobRunner:
    def __init__(self, platform: Guanxi) -> None:
        self.platform = platform
        self.db = platform.db
        self.specs: dict[str, JobSpec] = {
            "jobs.cleanup": spec_from_dict(
                {"name": "jobs.cleanup", "every": "daily", "at": "04:00", "run": _cleanup}, "core"
            )
        }
        for implementation in platform.pm.hook.register_jobs.get_hookimpls():
            plugin = platform.pm.get_name(implementation.plugin)
            for entry in implementation.function() or []:
                spec = spec_from_dict(entry, plugin)
                if spec.name in self.specs:
                    raise ValueError(
                        f"job {spec.name!r} is registered by both {self.specs[spec.name].plugin!r}"
                        f" and {plugin!r}"
                    )
                self.specs[spec.name] = spec
        self._scheduled: dict[str, str] = {}  # job -> the last due key this process ensured
        self.wake = threading.Event()  # set by enqueue: a local worker looks at once

    # -- queueing ----------------------------------------------------------------------------

    def enqueue(
        self,
        job: str,
        payload: Mapping[str, Any] | None = None,
        *,
        run_at: datetime | None = None,
        key: str | None = None,
        connection: Connection | None = None,
    ) -> int | None:
        """Queue one run of `job` (now, or at `run_at` UTC). With `connection` the task
        commits with the caller's transaction; with `key`, a task with that key is queued
        at most once (None is returned for a duplicate)."""
        spec = self.specs.get(job)
        if spec is None:
            raise KeyError(f"no job named {job!r} is registered")
        now = clock.now_utc()
        args = (job, dict(payload or {}), run_at or now, spec.max_attempts, now, key)
        if connection is not None:
            task_id = queue.insert_task(connection, *args)
        else:
            with self.db.unit_of_work() as own:
                task_id = queue.insert_task(own, *args)
        self.wake.set()
        return task_id

    def cancel_queued(
        self, connection: Connection, job: str, payload_match: Mapping[str, int | str]
    ) -> int:
        """Cancel `job`'s tasks still waiting whose payload has these values (e.g. a retry
        made pointless by a redelivery by hand); running tasks finish. Returns how many."""
        conditions = [job_task.c.job == job, job_task.c.status == "queued"]
        for key, value in payload_match.items():
            item = job_task.c.payload[key]
            conditions.append(
                (item.as_integer() if isinstance(value, int) else item.as_string()) == value
            )
        return int(
            connection.execute(
                sa.update(job_task)
                .where(*conditions)
                .values(status="cancelled", finished_at=clock.now_utc())
            ).rowcount
            or 0
        )

    def request_run(self, actor: Actor, job: str) -> int:
        """An administrator's "run now" (admin screen): queued like any task, and audited."""
        self.platform.authorizer.check_admin(actor)
        if job not in self.specs:
            raise NotFound(_("No such job"))
        with self.db.unit_of_work() as connection:
            task_id = self.enqueue(job, connection=connection)
            audit.write(connection, actor, "job", f"job:{job}", {"run": True, "task": task_id})
        return int(task_id or 0)

    def schedule_periodic(self, now: datetime | None = None) -> int:
        """Make sure every periodic job has a task for its current due time (one row per
        due time whatever the number of workers: the key is unique). Returns tasks added."""
        now = now or clock.now_utc()
        wanted = {
            spec.name: (spec, current_due(spec, now))
            for spec in self.specs.values()
            if spec.periodic
        }
        keys = {name: periodic_key(spec, due) for name, (spec, due) in wanted.items()}
        missing = [name for name, key in keys.items() if self._scheduled.get(name) != key]
        if not missing:
            return 0
        added = 0
        with self.db.unit_of_work() as connection:
            present = queue.existing_keys(connection, [keys[name] for name in missing])
            for name in missing:
                spec, due = wanted[name]
                if keys[name] not in present and queue.insert_task(
                    connection, name, {}, due, spec.max_attempts, now, keys[name]
                ):
                    added += 1
        self._scheduled.update({name: keys[name] for name in missing})
        return added

    # -- running -----------------------------------------------------------------------------

    def run_due(
        self, *, worker: str = "inline", now: datetime | None = None, limit: int = 100
    ) -> list[RunOutcome]:
        """Schedule periodic jobs, then run up to `limit` due tasks one after another."""
        self.schedule_periodic(now)
        outcomes = []
        for _turn in range(limit):
            outcome = self.run_one(worker=worker, now=now)
            if outcome is None:
                break
            outcomes.append(outcome)
        return outcomes

    def run_one(self, *, worker: str, now: datetime | None = None) -> RunOutcome | None:
        with self.db.unit_of_work() as connection:
            claimed = queue.claim(connection, self.specs, worker, now or clock.now_utc())
        if claimed is None:
            return None
        spec = self.specs[claimed.job]
        context = JobContext(
            platform=self.platform,
            job=claimed.job,
            task_id=claimed.task_id,
            payload=claimed.payload,
            attempt=claimed.attempt,
            max_attempts=claimed.max_attempts,
            due_at=claimed.due_at,
            worker=worker,
        )
        started = timer.perf_counter()
        result, error, delay = None, None, None
        try:
            with log_fields(job=claimed.job, task_id=claimed.task_id, attempt=claimed.attempt):
                result = spec.run(context)
        except RetryLater as retry:
            error, delay = str(retry), retry.seconds
        except Exception as failure:  # a job's failure is recorded, never kills the worker
            error = "".join(traceback.format_exception_only(failure)).strip()
            delay = retry_delay(spec, claimed.attempt)
            log.warning(
                "job %s (task %s, attempt %s) failed: %s",
                claimed.job,
                claimed.task_id,
                claimed.attempt,
                error,
                exc_info=log.isEnabledFor(logging.DEBUG),  # a failing receiver is routine
                extra={"job": claimed.job, "task_id": claimed.task_id},
            )
        seconds = timer.perf_counter() - started
        finished = clock.now_utc() if now is None else now  # tests freeze time with `now`
        if error is None:
            run_status, task_status = "ok", "done"
        elif claimed.attempt < claimed.max_attempts:
            run_status, task_status = "retry", "queued"
        else:
            run_status, task_status = "failed", "failed"
        retry_at = finished + timedelta(seconds=delay or 0) if task_status == "queued" else None
        with self.db.unit_of_work() as connection:
            held = queue.finish(
                connection,
                claimed,
                worker,
                finished,
                run_status="error" if error else "ok",
                task_status=task_status,
                error=error,
                retry_at=retry_at,
                duration_ms=int(seconds * 1000),
            )
        status = run_status if held else "lost"
        _observe(claimed.job, status, seconds)
        return RunOutcome(claimed.job, claimed.task_id, claimed.attempt, status, error, result)

    # -- reading -----------------------------------------------------------------------------

    def overview(self) -> list[dict[str, Any]]:
        """Every registered job with its schedule, queue depth and last run (`guanxi jobs`)."""
        with self.db.read() as connection:
            last_runs = _last_runs(connection, list(self.specs))
            waiting = dict(
                connection.execute(
                    sa.select(job_task.c.job, sa.func.count())
                    .where(job_task.c.status.in_(("queued", "running")))
                    .group_by(job_task.c.job)
                ).all()
            )
            failed = dict(
                connection.execute(
                    sa.select(job_task.c.job, sa.func.count())
                    .where(job_task.c.status == "failed")
                    .group_by(job_task.c.job)
                ).all()
            )
        return [
            {
                "name": spec.name,
                "plugin": spec.plugin,
                "schedule": describe_schedule(spec),
                "waiting": int(waiting.get(spec.name, 0)),
                "failed": int(failed.get(spec.name, 0)),
                "last_run": last_runs.get(spec.name),
            }
            for spec in sorted(self.specs.values(), key=lambda s: s.name)
        ]

    def runs(self, job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(job_run).order_by(job_run.c.id.desc()).limit(limit)
        if job:
            query = query.where(job_run.c.job == job)
        with self.db.read() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]


KEEP_FINISHED = timedelta(days=30)


def _cleanup(ctx: JobContext) -> dict[str, int]:
    """Finished tasks and their runs are kept 30 days, then deleted (the queue stays small)."""
    before = clock.now_utc() - KEEP_FINISHED
    with ctx.platform.db.unit_of_work() as connection:
        old = sa.select(job_task.c.id).where(
            job_task.c.status.in_(("done", "failed", "cancelled")),
            job_task.c.finished_at < before,
        )
        runs = connection.execute(sa.delete(job_run).where(job_run.c.task_id.in_(old))).rowcount
        tasks = connection.execute(
            sa.delete(job_task).where(
                job_task.c.status.in_(("done", "failed", "cancelled")),
                job_task.c.finished_at < before,
            )
        ).rowcount
    return {"tasks": tasks, "runs": runs}


def _last_runs(connection: Connection, names: list[str]) -> dict[str, dict[str, Any]]:
    if not names:
        return {}
    latest = (
        sa.select(sa.func.max(job_run.c.id))
        .where(job_run.c.job.in_(names))
        .group_by(job_run.c.job)
        .scalar_subquery()
    )
    rows = connection.execute(sa.select(job_run).where(job_run.c.id.in_(latest)))
    return {row.job: dict(row._mapping) for row in rows}


def describe_schedule(spec: JobSpec) -> str:
    if spec.every_seconds is None:
        return "queued"
    names = {60: "every minute", 3600: "hourly", 86400: "daily", 7 * 86400: "weekly"}
    text = names.get(spec.every_seconds, f"every {spec.every_seconds} s")
    return f"{text} at {spec.at:%H:%M}" if spec.at else text


def _observe(job: str, status: str, seconds: float) -> None:
    try:
        from guanxi.ops.metrics import observe_job_run
    except ImportError:  # metrics not available in this build
        return
    try:
        observe_job_run(job, status, seconds)
    except Exception:  # metrics must never break a job
        log.debug("job metrics failed", exc_info=True)
