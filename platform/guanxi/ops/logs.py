"""Log lines for machines or people (OPS-03): one JSON object per line on stderr (log shippers
read them as they are) or plain text, carrying the request id and job fields of the work in
progress. Guanxi's loggers and uvicorn's go through the same handler."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guanxi.settings import Settings

# Set by the request middleware for the duration of one request.
REQUEST_ID: ContextVar[str | None] = ContextVar("guanxi_request_id", default=None)
_FIELDS: ContextVar[Mapping[str, Any]] = ContextVar(
    "guanxi_log_fields", default=MappingProxyType({})
)

# A key holding one of these words is never written out, whatever a caller passes as extra=.
SECRET_WORDS = ("authorization", "cookie", "token", "password", "passwd", "secret", "csrf")
REDACTED = "[redacted]"
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
}


@contextmanager
def log_fields(**fields: Any) -> Iterator[None]:
    """Add fields (e.g. job="webhooks.deliver", task_id=12) to every line logged in the block."""
    token = _FIELDS.set(MappingProxyType({**_FIELDS.get(), **fields}))
    try:
        yield
    finally:
        _FIELDS.reset(token)


def context_fields() -> dict[str, Any]:
    """The request id and bound fields of the current request or job."""
    fields = dict(_FIELDS.get())
    request_id = REQUEST_ID.get()
    if request_id:
        fields["request_id"] = request_id
    return fields


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Context fields plus the record's own extra= values; secret-looking keys redacted."""
    fields = context_fields()
    for key, value in vars(record).items():
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
            fields[key] = value
    return {key: REDACTED if is_secret(key) else value for key, value in fields.items()}


def is_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", "pid", request_id/job fields..., "exception"}."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update(record_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [request_id=… job=…] message` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{key}={REDACTED if is_secret(key) else value}"
            for key, value in context_fields().items()
        )
        if not context:
            return super().format(record)
        copy = logging.makeLogRecord(vars(record))
        copy.msg, copy.args = f"[{context}] {record.getMessage()}", None
        return super().format(copy)


def logging_config(settings: Settings) -> dict[str, Any]:
    """A logging.config.dictConfig document; uvicorn applies it again in each worker it spawns.
    uvicorn's own access log is off: the request middleware writes one line per request."""
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"guanxi": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "guanxi",
            }
        },
        "loggers": {
            "guanxi": {"level": "INFO"},
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def configure_logging(settings: Settings) -> None:
    """Route this process's logs to stderr in settings.log_format (`guanxi serve`, `worker`)."""
    logging.config.dictConfig(logging_config(settings))
