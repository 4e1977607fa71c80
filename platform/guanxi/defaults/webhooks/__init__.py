"""Outbound webhooks (API-03): signed deliveries of record events through the job runner.

Administrators register endpoints per entity and event on /admin/webhooks (service.py);
record events become deliveries read with the endpoint owner's permissions (dispatch.py);
the "webhooks.deliver" job signs and sends them with retries (delivery.py, signing.py) to
URLs checked against private targets (targets.py). See docs/webhooks.md.
"""

from __future__ import annotations

from typing import Any

from guanxi.defaults.webhooks.delivery import job_specs
from guanxi.defaults.webhooks.dispatch import on_record_changed
from guanxi.defaults.webhooks.routes import routes
from guanxi.events import RecordEvent
from guanxi.hookspecs import hookimpl


@hookimpl
def record_changed(platform: Any, event: RecordEvent) -> None:
    on_record_changed(platform, event)


@hookimpl
def register_jobs() -> list[dict[str, Any]]:
    return job_specs()


@hookimpl
def register_routes() -> list[Any]:
    return routes()
