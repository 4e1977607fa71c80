"""Prometheus metrics (OPS-03): requests by route template, latency, requests in flight and
job runs. Under `guanxi serve --workers N` every worker writes its numbers to
PROMETHEUS_MULTIPROC_DIR and /metrics merges them, so one scrape of any worker covers all."""

from __future__ import annotations

import glob
import ipaddress
import os
import platform as python_platform
import re
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from guanxi.errors import FieldError, PermissionDenied
from guanxi.i18n import _
from guanxi.ops.serve import MULTIPROC_ENV

# prometheus_client picks its storage when first imported: files shared by all workers when
# the variable is set (`guanxi serve` sets it before uvicorn spawns them), else memory.
MULTIPROCESS = bool(os.environ.get(MULTIPROC_ENV))
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "guanxi_http_requests",
    "HTTP requests answered, by method, route template and status class",
    ["method", "route", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "guanxi_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "guanxi_http_requests_in_progress",
    "Requests being answered now (all workers)",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "guanxi_job_runs",
    "Background job runs, by job and outcome",
    ["job", "status"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "guanxi_job_run_duration_seconds",
    "How long background job runs took",
    ["job", "status"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0),
    registry=REGISTRY,
)
WORKERS = Gauge(
    "guanxi_web_workers",
    "Web worker processes running",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
WORKER_STARTED = Gauge(
    "guanxi_web_worker_start_time_seconds",
    "When each web worker started (Unix time); one series per process id in multiprocess mode",
    multiprocess_mode="liveall",
    registry=REGISTRY,
)
BUILD_INFO = Gauge(
    "guanxi_build_info",
    "Always 1; the labels say which Guanxi and Python answer",
    ["version", "python"],
    multiprocess_mode="max",
    registry=REGISTRY,
)
if not MULTIPROCESS:  # these read the scraping process only: meaningless for a merged view
    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)


def _version() -> str:
    try:
        return metadata.version("guanxi")
    except metadata.PackageNotFoundError:
        return "unknown"


_counted = False


def worker_started() -> None:
    """Count this process as a web worker (once per process, whatever the number of apps)."""
    global _counted
    if not _counted:
        _counted = True
        WORKERS.set(1)
        WORKER_STARTED.set_to_current_time()
        BUILD_INFO.labels(_version(), python_platform.python_version()).set(1)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    labels = (method if method in HTTP_METHODS else "other", route, status_class(status))
    REQUESTS.labels(*labels).inc()
    REQUEST_SECONDS.labels(*labels).observe(seconds)


def observe_job_run(job: str, status: str, seconds: float) -> None:
    """Record one job run (the job runner calls this after each run; status "ok", "retry",
    "failed", "lost", ...)."""
    JOB_RUNS.labels(job, status).inc()
    JOB_SECONDS.labels(job, status).observe(seconds)


def exposition(accept: str = "") -> tuple[bytes, str]:
    """(body, content type): every metric in the text format the scraper accepts (Prometheus
    text, or OpenMetrics when asked), merged over all workers in multiprocess mode."""
    encode, content_type = choose_encoder(accept)
    if not MULTIPROCESS:
        return encode(REGISTRY), content_type
    path = os.environ[MULTIPROC_ENV]
    forget_dead_workers(path)
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path)
    return encode(merged), content_type


_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def forget_dead_workers(path: str) -> None:
    """Drop the live gauges of workers that exited (a restarted worker has a new pid); their
    counters stay, so totals never go backwards."""
    pids = {int(m.group(1)) for f in glob.glob(os.path.join(path, "gauge_live*.db"))
            if (m := _LIVE_FILE.search(f))}  # fmt: skip
    for pid in pids:
        if not _alive(pid):
            mark_process_dead(pid, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- GET /metrics -------------------------------------------------------------------------------


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def metrics_endpoint(request: Request) -> Response:
    """Loopback clients (a scraper on the host) and administrators, or anyone when
    GUANXI_METRICS_PUBLIC=1: route names and volumes say more about an install than it should
    tell strangers."""
    refused = await _refusal(request)
    if refused is not None:
        return refused
    body, content_type = await run_in_threadpool(exposition, request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


async def _refusal(request: Request) -> Response | None:
    from guanxi.web_auth import request_locale

    platform = request.app.state.platform
    if platform.settings.metrics_public or is_loopback(request.client and request.client.host):
        return None
    actor = getattr(request.state, "actor", None)
    locale = request_locale(request, actor)
    if actor is None:
        error = FieldError(
            None, "login_required", _("Sign in as an administrator to read the metrics")
        )
        headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse({"errors": [error.to_dict(locale)]}, status_code=401, headers=headers)
    try:
        await run_in_threadpool(platform.authorizer.check_admin, actor)
    except PermissionDenied:
        error = FieldError(None, "forbidden", _("Only administrators may read the metrics"))
        return JSONResponse({"errors": [error.to_dict(locale)]}, status_code=403)
    return None
