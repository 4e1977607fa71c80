"""The job runner (OPS-02): periodic and queued jobs run exactly once per due time across
workers and processes, retry with backoff, survive a crashed worker, and record their runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi import clock
from guanxi.jobs import queue
from guanxi.store.system_tables import job_run, job_task
from tests.jobs import jobs_plugin

ROOT = Path(__file__).resolve().parents[2]
# Tomorrow 09:00 business time: after anything enqueued "now", before nothing else.
T0 = clock.to_utc(datetime.combine(clock.today_local() + timedelta(days=1), dt_time(9, 0)))


@pytest.fixture
def make_jobs(make_platform: Any) -> Any:
    def factory(**settings: Any) -> Any:
        return make_platform(plugins=[("testjobs", jobs_plugin)], **settings)

    return factory


def hit_rows(platform: Any, job: str | None = None) -> list[Any]:
    query = sa.select(jobs_plugin.hits).order_by(jobs_plugin.hits.c.id)
    if job:
        query = query.where(jobs_plugin.hits.c.job == job)
    with platform.db.read() as connection:
        return list(connection.execute(query))


def runs_of(platform: Any, task_id: int) -> list[Any]:
    with platform.db.read() as connection:
        return list(
            connection.execute(
                sa.select(job_run).where(job_run.c.task_id == task_id).order_by(job_run.c.id)
            )
        )


def task(platform: Any, task_id: int) -> Any:
    with platform.db.read() as connection:
        return connection.execute(sa.select(job_task).where(job_task.c.id == task_id)).one()


def test_periodic_job_runs_once_per_due_time_across_workers(make_jobs: Any) -> None:
    """OPS-02: two platforms (as two workers) on one database; each due time runs once."""
    first, second = make_jobs(), make_jobs()
    ran = [o for o in first.jobs.run_due(worker="a", now=T0) if o.job == "test.tick"]
    ran += [o for o in second.jobs.run_due(worker="b", now=T0) if o.job == "test.tick"]
    assert [o.status for o in ran] == ["ok"]
    # Later in the same minute: nothing new; the next minute: one more run.
    assert not [
        o for o in second.jobs.run_due(worker="b", now=T0 + timedelta(seconds=40))
        if o.job == "test.tick"
    ]  # fmt: skip
    ran = first.jobs.run_due(worker="a", now=T0 + timedelta(seconds=61))
    ran += second.jobs.run_due(worker="b", now=T0 + timedelta(seconds=61))
    assert [o.job for o in ran if o.job == "test.tick"] == ["test.tick"]
    ticks = hit_rows(first, "test.tick")
    assert [row.due_at for row in ticks] == [T0, T0 + timedelta(minutes=1)]


def test_daily_job_is_due_at_local_time(make_jobs: Any) -> None:
    """A daily job "at 02:00" is due at 02:00 business time (Shanghai), not UTC."""
    platform = make_jobs()
    platform.jobs.run_due(worker="a", now=T0)
    (daily,) = hit_rows(platform, "test.daily")
    local_day = clock.to_local(T0).date()
    assert daily.due_at == clock.to_utc(datetime.combine(local_day, dt_time(2, 0)))


def test_failed_run_is_retried_with_exponential_backoff(make_jobs: Any) -> None:
    platform = make_jobs()
    task_id = platform.jobs.enqueue("test.flaky", {"fail_times": 2})
    [first] = [o for o in platform.jobs.run_due(now=T0) if o.job == "test.flaky"]
    assert (first.status, first.attempt) == ("retry", 1)
    assert "receiver down" in (first.error or "")
    assert task(platform, task_id).run_at == T0 + timedelta(seconds=10)  # backoff 10 s
    assert not [o for o in platform.jobs.run_due(now=T0 + timedelta(seconds=9))
                if o.job == "test.flaky"]  # fmt: skip
    [second] = [o for o in platform.jobs.run_due(now=T0 + timedelta(seconds=11))
                if o.job == "test.flaky"]  # fmt: skip
    assert (second.status, second.attempt) == ("retry", 2)
    assert task(platform, task_id).run_at == T0 + timedelta(seconds=11 + 20)  # doubled
    [third] = [o for o in platform.jobs.run_due(now=T0 + timedelta(seconds=40))
               if o.job == "test.flaky"]  # fmt: skip
    assert (third.status, third.attempt) == ("ok", 3)
    assert task(platform, task_id).status == "done"
    assert [r.status for r in runs_of(platform, task_id)] == ["error", "error", "ok"]
    assert all(r.finished_at is not None and r.duration_ms is not None
               for r in runs_of(platform, task_id))  # fmt: skip


def test_retries_run_out_and_the_task_fails(make_jobs: Any) -> None:
    platform = make_jobs()
    task_id = platform.jobs.enqueue("test.flaky", {"fail_times": 99})
    statuses = []
    moment = T0
    for _ in range(6):
        statuses += [o.status for o in platform.jobs.run_due(now=moment) if o.job == "test.flaky"]
        moment += timedelta(hours=1)
    assert statuses == ["retry", "retry", "retry", "failed"]  # retries=3: four attempts
    assert task(platform, task_id).status == "failed"
    [overview] = [j for j in platform.jobs.overview() if j["name"] == "test.flaky"]
    assert overview["failed"] == 1 and overview["last_run"]["status"] == "error"


def test_retry_later_picks_the_delay(make_jobs: Any) -> None:
    platform = make_jobs()
    task_id = platform.jobs.enqueue("test.later")
    platform.jobs.run_due(now=T0)
    assert task(platform, task_id).run_at == T0 + timedelta(seconds=600)


def test_enqueue_with_a_key_queues_once_and_commits_with_the_caller(make_jobs: Any) -> None:
    platform = make_jobs()
    assert platform.jobs.enqueue("test.hit", key="sync-42") is not None
    assert platform.jobs.enqueue("test.hit", key="sync-42") is None
    with pytest.raises(RuntimeError), platform.db.unit_of_work() as connection:
        platform.jobs.enqueue("test.hit", {"n": 1}, connection=connection)
        raise RuntimeError("the caller's write fails")
    ran = [o for o in platform.jobs.run_due(now=T0 + timedelta(days=1)) if o.job == "test.hit"]
    assert len(ran) == 1  # the rolled-back task never existed
    with pytest.raises(KeyError):
        platform.jobs.enqueue("no.such.job")


def test_an_expired_lease_lets_another_worker_take_over(make_jobs: Any) -> None:
    """A worker that died mid-run: its lease runs out, its run is marked lost, and the task
    runs again on another worker (OPS-02)."""
    platform = make_jobs()
    task_id = platform.jobs.enqueue("test.crash_once", run_at=T0)  # timeout (lease) 2 s
    with platform.db.unit_of_work() as connection:
        claimed = queue.claim(connection, platform.jobs.specs, "dead-worker", T0)
    assert claimed is not None and claimed.task_id == task_id
    assert "test.crash_once" not in [
        o.job for o in platform.jobs.run_due(worker="alive", now=T0 + timedelta(seconds=1))
    ]
    # test.crash_once would exit on attempt 1; this is attempt 2, so it completes.
    [outcome] = platform.jobs.run_due(worker="alive", now=T0 + timedelta(seconds=3))
    assert (outcome.status, outcome.attempt) == ("ok", 2)
    runs = runs_of(platform, task_id)
    assert [(r.worker, r.status) for r in runs] == [("dead-worker", "lost"), ("alive", "ok")]
    # The dead worker wakes up and reports: too late, its result does not count.
    with platform.db.unit_of_work() as connection:
        held = queue.finish(
            connection, claimed, "dead-worker", T0 + timedelta(seconds=5),
            run_status="ok", task_status="done", duration_ms=5000,
        )  # fmt: skip
    assert held is False
    assert task(platform, task_id).status == "done"


def _worker(test_db: Any, label: str, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, **test_db.env(), "GUANXI_SCHEMA_DIR": str(ROOT / "schemas")}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "jobs" / "worker_process.py"),
         "--label", label, "--seconds", str(seconds)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", line + process.stdout.read()


def test_two_worker_processes_run_each_task_exactly_once(make_jobs: Any, test_db: Any) -> None:
    """OPS-02: two `guanxi worker`-style processes on one database share a queue of 60
    tasks and one periodic job; every task runs once, and each minute's tick once."""
    platform = make_jobs()
    task_ids = [platform.jobs.enqueue("test.hit", {"sleep": 0.02}) for _ in range(60)]
    workers = [_worker(test_db, label, 8) for label in ("p1", "p2")]
    for process in workers:
        _wait_ready(process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = [r for r in hit_rows(platform, "test.hit") if r.task_id in task_ids]
        if len(done) >= 60:
            break
        time.sleep(0.2)
    for process in workers:
        output = process.communicate(timeout=30)[0]
        assert process.returncode == 0, output
    done = [r for r in hit_rows(platform, "test.hit") if r.task_id in task_ids]
    assert sorted(r.task_id for r in done) == sorted(task_ids)  # each exactly once
    assert {r.worker.rsplit(":", 1)[1] for r in done} <= {"p1", "p2"}
    ticks = hit_rows(platform, "test.tick")
    assert ticks and len({r.due_at for r in ticks}) == len(ticks)  # one run per due minute
    with platform.db.read() as connection:
        statuses = set(
            connection.execute(
                sa.select(job_task.c.status).where(job_task.c.id.in_(task_ids))
            ).scalars()
        )
    assert statuses == {"done"}


def test_a_crashed_worker_process_is_taken_over(make_jobs: Any, test_db: Any) -> None:
    """The first worker process dies inside the job (os._exit); after the 2 s lease the
    second one runs it again: the run log shows the lost attempt and the good one."""
    platform = make_jobs()
    task_id = platform.jobs.enqueue("test.crash_once")
    doomed = _worker(test_db, "doomed", 10)
    assert doomed.wait(timeout=30) == 17
    survivor = _worker(test_db, "survivor", 6)
    output = survivor.communicate(timeout=30)[0]
    assert survivor.returncode == 0, output
    runs = runs_of(platform, task_id)
    assert [(r.worker.rsplit(":", 1)[1], r.status) for r in runs] == [
        ("doomed", "lost"),
        ("survivor", "ok"),
    ]
    assert task(platform, task_id).status == "done"
