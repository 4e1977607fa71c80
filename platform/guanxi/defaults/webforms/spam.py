"""Abuse checks for public forms (API-04): a honeypot field people never see, a signed "page
shown at" token for a minimum fill time, and a per-IP hourly limit counted in the submission
log, so every worker process (and machine) agrees on it."""

from __future__ import annotations

import hashlib
import math
import time
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature, Signer

from guanxi import clock
from guanxi.meta.entity import EntityDef
from guanxi.store.system_tables import web_form_submission

MIN_FILL_SECONDS = 2.0  # people need longer than this to fill in even one field
TOKEN_FIELD = "_gx_started"
# Plausible names bots like to fill; the first one the entity does not use is the honeypot.
HONEYPOT_NAMES = ("homepage", "fax_number", "company_homepage", "homepage_2")
WINDOW = timedelta(hours=1)
LIMITED = "limited"


def honeypot_name(entity: EntityDef) -> str:
    return next(name for name in HONEYPOT_NAMES if entity.get_field(name) is None)


def _signer(platform: Any) -> Signer:
    return Signer(
        platform.settings.signing_key(), salt="guanxi.web-form", digest_method=hashlib.sha256
    )


def fill_token(platform: Any, form_key: str, shown_at: float | None = None) -> str:
    """The token a rendered page carries: the form's key and when it was shown, signed."""
    shown = time.time() if shown_at is None else shown_at
    return _signer(platform).sign(f"{form_key}:{int(shown * 1000)}").decode()


def fill_problem(
    platform: Any, form_key: str, token: str | None, now: float | None = None
) -> str | None:
    """None when the page was shown to this visitor long enough ago; else why not (the code
    recorded with the "spam" outcome): no_token, bad_token or too_fast."""
    if not token:
        return "no_token"
    try:
        value = _signer(platform).unsign(token).decode()
    except (BadSignature, UnicodeError):
        return "bad_token"
    key, _sep, millis = value.rpartition(":")
    if key != form_key or not millis.isdigit():
        return "bad_token"
    elapsed = (time.time() if now is None else now) - int(millis) / 1000
    return "too_fast" if elapsed < MIN_FILL_SECONDS else None


def retry_after(platform: Any, ip: str | None, now: datetime | None = None) -> int | None:
    """Seconds until `ip` may submit again, or None while it is under the hourly limit.
    Refused ("limited") attempts are logged but not counted, so a client that stops is let
    in again an hour after its last counted submission at the latest."""
    limit = int(platform.settings.form_rate_limit)
    now = now or clock.now_utc()
    with platform.db.read() as connection:
        recent = connection.execute(
            sa.select(web_form_submission.c.at)
            .where(
                web_form_submission.c.ip == ip,
                web_form_submission.c.at > now - WINDOW,
                web_form_submission.c.outcome != LIMITED,
            )
            .order_by(web_form_submission.c.at.desc())
            .limit(limit)
        ).scalars().all()  # fmt: skip
    if len(recent) < limit:
        return None
    # Once the limit-th newest submission leaves the window, the count is below the limit.
    return max(1, math.ceil((recent[-1] + WINDOW - now).total_seconds()))
