"""Webhook signatures (API-03): HMAC-SHA256 over "<unix timestamp>.<body>" with the
endpoint's secret, sent as ``X-Guanxi-Signature: v1=<hex>``. Signing the timestamp lets a
receiver refuse replays of an old delivery; the version prefix lets the scheme change later."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300  # seconds a receiver should accept between timestamp and its clock


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: str) -> str:
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    return f"{SCHEME}={digest}"


def verify(
    secret: str,
    timestamp: str,
    body: str,
    header: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """What a receiver does (docs/webhooks.md shows the same in plain Python): the signature
    matches in constant time and the timestamp is recent."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent_at, body), header)
