"""The outermost middleware (pure ASGI, OPS-03): gives each request an id (X-Request-ID in and
out, and on every log line written meanwhile), writes one access log line when the response
is done and counts the request in the metrics under its route template."""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextlib import suppress
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guanxi.ops import metrics
from guanxi.ops.logs import REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Asked every few seconds by load balancers: their successful answers are logged at DEBUG only.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "unmatched"

access_log = logging.getLogger("guanxi.access")


def incoming_request_id(scope: Scope) -> str | None:
    """The caller's X-Request-ID when it is a sane token (it ends up in logs and headers)."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            return candidate if _SANE_ID.fullmatch(candidate) else None
    return None


def route_template(scope: Scope, root_path: str) -> str:
    """The matched route's path format (/r/{entity}/{id}), never the raw path: one metric
    series per route, not per record. A route inside a Mount gets the mount's matched path."""
    route = scope.get("route")
    path_format = getattr(route, "path_format", None)
    if not path_format:
        return UNMATCHED
    if isinstance(route, Mount):
        return str(path_format)
    return scope.get("root_path", "")[len(root_path) :] + str(path_format)


class RequestMiddleware:
    """Outermost of ours (only Starlette's error handler wraps it), so the id and the timing
    cover authentication and every route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        metrics.worker_started()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        root_path = scope.get("root_path", "")
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as error:
            if status is None and isinstance(error, Exception):  # not a cancelled request
                # Answered here rather than by Starlette's handler, so the 500 carries the id
                # a user can quote; the error still propagates to be logged with its traceback.
                with suppress(Exception):
                    await PlainTextResponse("Internal Server Error", 500)(
                        scope, receive, send_with_id
                    )
            # REQUEST_ID stays set: the server's traceback line, logged next, carries it.
            self._finish(scope, root_path, status or 500, started)
            raise
        else:
            self._finish(scope, root_path, status or 500, started)
            REQUEST_ID.reset(token)
        finally:
            metrics.IN_FLIGHT.dec()

    def _finish(self, scope: Scope, root_path: str, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        metrics.observe_request(scope["method"], route_template(scope, root_path), status, seconds)
        log_access(scope, status, seconds)


def log_access(scope: Scope, status: int, seconds: float) -> None:
    """One line per request. The query string's values (search terms, tokens in links) and
    all headers stay out of the log: only the query's keys are kept."""
    path = scope["path"]
    if status < 400 and path in PROBE_PATHS:
        level = logging.DEBUG
    else:
        level = logging.WARNING if status >= 500 else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    query_keys = _query_keys(scope.get("query_string", b""))
    actor = scope.get("state", {}).get("actor")  # set by AuthMiddleware, read once it is done
    user_id = getattr(actor, "user_id", None)
    client = scope.get("client")
    client_ip = client[0] if client else None
    duration_ms = round(seconds * 1000, 1)
    shown_path = f"{path}?{'&'.join(query_keys)}" if query_keys else path
    message = f"{scope['method']} {shown_path} {status} {duration_ms} ms"
    if user_id is not None:
        message += f" user={user_id}"
    access_log.log(
        level,
        f"{message} ip={client_ip or '-'}",
        extra={
            "method": scope["method"],
            "path": path,
            "query_keys": query_keys or None,
            "status": status,
            "duration_ms": duration_ms,
            "user_id": user_id,
            "client_ip": client_ip,
        },
    )


def _query_keys(query_string: bytes) -> list[str]:
    keys = dict.fromkeys(k for k, _v in parse_qsl(query_string.decode("latin-1"), True))
    return [k[:64] for k in keys][:20]
