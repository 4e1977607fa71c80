"""/admin/jobs (OPS-02): every registered job with its schedule, queue and last run, the run
log with errors, and "run now" for administrators."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.web.admin.org_common import admin_screen
from guanxi.web.screen import Screen

RUNS_SHOWN = 100


@admin_screen
def jobs_page(s: Screen) -> Response:
    jobs = s.platform.jobs.overview()
    chosen = s.params.get("job", "").strip()
    if chosen not in s.platform.jobs.specs:
        chosen = ""
    runs = s.platform.jobs.runs(chosen or None, limit=RUNS_SHOWN)
    notice = s.t("Queued; a worker runs it within seconds") if s.params.get("queued") else None
    return s.render("admin/jobs.html", jobs=jobs, runs=runs, chosen=chosen, notice=notice)


@admin_screen
def run_now(s: Screen) -> Response:
    name = s.path_params["name"]
    s.platform.jobs.request_run(s.actor, name)
    return s.redirect("/admin/jobs?" + urlencode({"job": name, "queued": 1}))


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/jobs", jobs_page),
        Route("/admin/jobs/{name}/run", run_now, methods=["POST"]),
    ]
