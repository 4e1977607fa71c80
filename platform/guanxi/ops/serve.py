"""What `guanxi serve` sets up before uvicorn spawns its workers: one metrics directory they
all write to (so /metrics on any worker covers all), and the logging they all use."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from guanxi.ops.logs import logging_config

if TYPE_CHECKING:
    from guanxi.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's name; workers inherit it


def prepare_metrics_dir(workers: int) -> str | None:
    """With several workers, point PROMETHEUS_MULTIPROC_DIR at an empty directory: the
    operator's (emptied of a previous run's files) or a fresh temporary one, removed at exit.
    One worker keeps its numbers in memory."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
        return path
    if workers <= 1:
        return None
    path = tempfile.mkdtemp(prefix="guanxi-metrics-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    os.environ[MULTIPROC_ENV] = path
    return path


def uvicorn_logging(settings: Settings) -> dict[str, Any]:
    """uvicorn.run() keyword arguments: our log format in every worker, and no uvicorn access
    lines (the request middleware writes one per request, with the request id)."""
    return {"log_config": logging_config(settings), "access_log": False, "log_level": "info"}
