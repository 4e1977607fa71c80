"""/admin/jobs (OPS-02): jobs, their schedules and runs for administrators; "run now"."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from guanxi.store.system_tables import audit, job_task


def test_admin_sees_jobs_runs_and_can_run_one_now(web_platform: Any, org: Any, login: Any) -> None:
    web_platform.jobs.run_due(worker="test")  # the core's daily jobs run once on a new database
    admin = login("admin")
    page = admin.get("/admin/jobs")
    assert page.status_code == 200
    assert 'data-job="purge_logs"' in page.text and 'data-job="jobs.cleanup"' in page.text
    assert page.text.count("data-run=") >= 2
    queued = admin.post("/admin/jobs/purge_logs/run")
    assert queued.status_code == 303 and "job=purge_logs" in queued.headers["location"]
    [outcome] = web_platform.jobs.run_due(worker="test")
    assert (outcome.job, outcome.status) == ("purge_logs", "ok")
    shown = admin.get(queued.headers["location"])
    assert shown.text.count("data-run=") == 2  # filtered to purge_logs: two runs
    with web_platform.db.read() as connection:
        kinds = [row.kind for row in connection.execute(audit.select())]
    assert "job" in kinds
    assert admin.post("/admin/jobs/no.such/run").status_code == 404


def test_jobs_screen_is_for_admins_only(web_platform: Any, org: Any, login: Any) -> None:
    rep = login("rep_east")
    assert rep.get("/admin/jobs").status_code == 403
    assert rep.post("/admin/jobs/purge_logs/run").status_code == 403
    with web_platform.db.read() as connection:
        queued = connection.execute(
            sa.select(sa.func.count()).where(job_task.c.job == "purge_logs")
        ).scalar_one()
    assert queued == 0  # nothing was queued by the refused request
