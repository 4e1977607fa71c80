"""Sending one delivery (API-03): the "webhooks.deliver" job POSTs the stored body, signed at
send time with the endpoint's current secret and timestamp. 2xx means delivered; anything
else is written to the delivery row and raised, so the job runner retries with its
exponential backoff (30 s, doubling) until the last attempt marks the delivery failed.
Redirects are not followed (a 3xx is a failure): a redirect could lead to a private address
the URL check never saw."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx2
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.defaults.webhooks import targets
from guanxi.defaults.webhooks.signing import signature
from guanxi.jobs import JobContext
from guanxi.store.system_tables import webhook, webhook_delivery

if TYPE_CHECKING:
    from guanxi.core import Guanxi

JOB = "webhooks.deliver"
RETRIES = 8  # 9 attempts over about 2 h 8 min: 30 s, 1, 2, 4, 8, 16, 32, 64 min apart
BACKOFF = 30
LEASE_SECONDS = 300  # longer than any sensible webhook_timeout_seconds
USER_AGENT = "Guanxi-Webhooks/1"
EXCERPT_BYTES = 256  # of a response body kept in last_error; the rest is never read
ERROR_MAX = 1000


class DeliveryFailed(Exception):
    """One attempt failed; the job runner schedules the next with backoff."""


PURGE_JOB = "webhooks.purge"
KEEP_DAYS = 30  # delivered and failed deliveries are kept this long, then deleted


def job_specs() -> list[dict[str, Any]]:
    return [
        {
            "name": JOB,
            "run": deliver,
            "retries": RETRIES,
            "backoff": BACKOFF,
            "timeout": LEASE_SECONDS,
        },
        {"name": PURGE_JOB, "every": "daily", "at": "04:30", "run": purge},
    ]


def iso_utc(moment: datetime) -> str:
    """Naive UTC -> "2024-05-31T08:00:00.123Z"."""
    return moment.isoformat(timespec="milliseconds") + "Z"


def encode(payload: Mapping[str, Any]) -> str:
    """The body as sent and signed: compact UTF-8 JSON (Chinese stays readable)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


def queue(
    platform: Guanxi,
    connection: Connection,
    webhook_id: int,
    payload: Mapping[str, Any],
    *,
    record_id: int | None,
) -> int:
    """Store a delivery and its job task in the caller's transaction: both or neither. The
    delivery id is the payload's "id", so the row is inserted first and the body written
    once the id is known."""
    now = clock.now_utc()
    delivery_id = int(
        connection.execute(
            sa.insert(webhook_delivery)
            .values(
                webhook_id=webhook_id,
                event=str(payload["event"])[:60],
                entity=str(payload["entity"]),
                record_id=record_id,
                body="",
                status="pending",
                attempts=0,
                created_at=now,
            )
            .returning(webhook_delivery.c.id)
        ).scalar_one()
    )
    body = encode({"id": str(delivery_id), **payload})
    # The body may hold encrypted fields' values (DATA-12): it is kept sealed at rest.
    sealed = platform.cipher.seal(body, BODY_CONTEXT)
    connection.execute(
        sa.update(webhook_delivery).where(webhook_delivery.c.id == delivery_id).values(body=sealed)
    )
    platform.jobs.enqueue(JOB, {"delivery_id": delivery_id}, connection=connection)
    return delivery_id


BODY_CONTEXT = "webhook delivery"


def open_body(platform: Guanxi, stored: str) -> str:
    """The body as signed and sent, from its sealed form (or as stored before sealing)."""
    return platform.cipher.open(stored, BODY_CONTEXT)


def reset(platform: Guanxi, connection: Connection, delivery_id: int) -> None:
    """Back to pending with no attempts: what a redelivery by hand starts from. A retry still
    waiting for its backoff is cancelled, so the delivery is not sent twice."""
    platform.jobs.cancel_queued(connection, JOB, {"delivery_id": delivery_id})
    connection.execute(
        sa.update(webhook_delivery)
        .where(webhook_delivery.c.id == delivery_id)
        .values(
            status="pending",
            attempts=0,
            last_status=None,
            last_error=None,
            last_response_ms=None,
            last_attempt_at=None,
            delivered_at=None,
        )
    )


def deliver(ctx: JobContext) -> dict[str, Any]:
    """The job: one attempt at one delivery."""
    platform = ctx.platform
    delivery_id = int(ctx.payload["delivery_id"])
    with platform.db.read() as connection:
        row = connection.execute(
            sa.select(
                webhook_delivery.c.status,
                webhook_delivery.c.event,
                webhook_delivery.c.body,
                webhook.c.url,
                webhook.c.secret,
                webhook.c.active,
            )
            .join(webhook, webhook.c.id == webhook_delivery.c.webhook_id)
            .where(webhook_delivery.c.id == delivery_id)
        ).first()
    if row is None:  # the endpoint was deleted with its log
        return {"skipped": "gone"}
    if row.status == "delivered":  # an older task of a delivery already sent by hand
        return {"skipped": "delivered"}
    if not row.active:
        _record(platform, delivery_id, "failed", None, "the endpoint is inactive", None)
        return {"skipped": "inactive"}
    settings = platform.settings
    body = open_body(platform, row.body)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Guanxi-Event": row.event,
        "X-Guanxi-Delivery": str(delivery_id),
        "X-Guanxi-Timestamp": str(timestamp),
        "X-Guanxi-Signature": signature(row.secret, timestamp, body),
    }
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        target = targets.check(row.url, allow_private=settings.webhook_allow_private)
        status, excerpt = _post(target, body, headers, settings.webhook_timeout_seconds)
        if not 200 <= status < 300:
            error = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
    except targets.TargetRefused as refused:
        error = refused.error.message.render("en")
    except httpx2.TimeoutException:
        error = f"timed out after {settings.webhook_timeout_seconds} s"
    except (httpx2.HTTPError, httpx2.InvalidURL, OSError, ValueError) as failure:
        error = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    if error is None:
        _record(platform, delivery_id, "delivered", status, None, elapsed_ms)
        return {"status": status, "ms": elapsed_ms}
    final = "failed" if ctx.is_last_attempt else "pending"
    _record(platform, delivery_id, final, status, error, elapsed_ms)
    raise DeliveryFailed(error)


def purge(ctx: JobContext) -> dict[str, int]:
    """Daily: forget finished deliveries older than KEEP_DAYS (bodies hold customer data)."""
    before = clock.now_utc() - timedelta(days=KEEP_DAYS)
    with ctx.platform.db.unit_of_work() as connection:
        deleted = connection.execute(
            sa.delete(webhook_delivery).where(
                webhook_delivery.c.status.in_(("delivered", "failed")),
                webhook_delivery.c.created_at < before,
            )
        ).rowcount
    return {"deleted": int(deleted or 0)}


def _post(
    target: targets.Target, body: str, headers: dict[str, str], timeout: float
) -> tuple[int, str]:
    """POST without following redirects; (status, start of the response body). When the
    target carries a checked address the connection goes there, with the URL's host name
    for the Host header and TLS (SNI and certificate), so DNS is not asked twice."""
    url = httpx2.URL(target.url)
    extensions: dict[str, Any] = {}
    send_headers = dict(headers)
    if target.address is not None:
        url = url.copy_with(host=target.address)
        send_headers["Host"] = urlsplit(target.url).netloc
        extensions["sni_hostname"] = target.host
    with (
        httpx2.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
        client.stream(
            "POST",
            url,
            content=body.encode("utf-8"),
            headers=send_headers,
            extensions=extensions,
        ) as response,
    ):
        excerpt = b""
        deadline = time.monotonic() + timeout  # a receiver dripping bytes cannot outlast the lease
        for chunk in response.iter_bytes():
            excerpt += chunk
            if len(excerpt) >= EXCERPT_BYTES or time.monotonic() > deadline:
                break
        text = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace").strip()
        return response.status_code, " ".join(text.split())[:EXCERPT_BYTES]


def _record(
    platform: Guanxi,
    delivery_id: int,
    status: str,
    http_status: int | None,
    error: str | None,
    elapsed_ms: int | None,
) -> None:
    now = clock.now_utc()
    values: dict[str, Any] = {
        "status": status,
        "last_status": http_status,
        "last_error": error[:ERROR_MAX] if error else None,
        "last_attempt_at": now,
        "delivered_at": now if status == "delivered" else None,
    }
    if elapsed_ms is not None:
        values["attempts"] = webhook_delivery.c.attempts + 1
        values["last_response_ms"] = elapsed_ms
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(webhook_delivery).where(webhook_delivery.c.id == delivery_id).values(values)
        )
