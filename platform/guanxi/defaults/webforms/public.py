"""The public side of web forms (API-04), no sign-in: GET/POST /f/{key} (a standalone page
meant to be embedded, in the visitor's language) and POST /api/forms/{key} (JSON, CORS open:
no credentials are involved). AuthMiddleware ignores sessions on these paths, so a signed-in
staff member submits as an anonymous visitor and the record is still created as the form's
owner. Order per submission: form known and active -> per-IP limit -> body size -> spam
checks -> input."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message as AsgiMessage

from guanxi.defaults.webforms import intake, service, spam
from guanxi.defaults.webforms.service import WebForm
from guanxi.errors import FieldError
from guanxi.i18n import LOCALES, Message, _, pick_label
from guanxi.meta.entity import EntityDef
from guanxi.templating import TEMPLATES
from guanxi.web.forms import build_form, general_errors
from guanxi.web_auth import client_ip, request_locale

MAX_FIELDS = 200
# No scripts at all; the page may be framed by any site (that is what embedding means), and
# after a submission the browser may only go back to us or to an https thank-you address.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self' https:; base-uri 'none'",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
}
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After",
}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Accept-Language",
    "Access-Control-Max-Age": "86400",
}

NOT_FOUND = _("This form does not exist or is no longer open")
BAD_BODY = _("The submission could not be read")
UNAVAILABLE = _("This form cannot take submissions right now. Please try again later.")
THANKS = _("Thank you! We have received your submission.")
BAD_JSON = _("The body must be a JSON object of field values")


class Refusal(Exception):
    """An answer decided before the input is looked at (unknown form, limit, size)."""

    def __init__(self, status: int, code: str, message: Message, retry: int | None = None):
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.retry = retry


# -- shared steps ------------------------------------------------------------------------------


def _published(platform: Any, key: str) -> tuple[WebForm, EntityDef]:
    """The active form behind a public key and its entity, else a 404 refusal."""
    form = service.public_form(platform, key)
    entity = platform.registry.snapshot().entities.get(form.entity) if form else None
    if form is None or entity is None:
        raise Refusal(404, "not_found", NOT_FOUND)
    return form, entity


def _admit(platform: Any, key: str, ip: str | None) -> tuple[WebForm, EntityDef]:
    """The active form and its entity, if this IP is still under the hourly limit."""
    form, entity = _published(platform, key)
    wait = spam.retry_after(platform, ip)
    if wait is not None:
        intake.log_outcome(platform, form.id, intake.LIMITED, ip)
        message = _("Too many submissions from your network. Please try again in {minutes} min.",
                    minutes=max(1, (wait + 59) // 60))  # fmt: skip
        raise Refusal(429, "rate_limited", message, wait)
    return form, entity


async def _body(request: Request, platform: Any, form: WebForm, ip: str | None) -> bytes:
    """The request body, refused (413) as soon as it exceeds the limit: never read whole."""
    limit_kb = int(platform.settings.form_max_body_kb)
    limit = limit_kb * 1024
    declared = request.headers.get("content-length", "")
    too_large = bool(re.fullmatch(r"[0-9]{1,15}", declared)) and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    if not too_large:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                too_large = True
                break
            chunks.append(chunk)
    if too_large:
        await run_in_threadpool(intake.log_outcome, platform, form.id, intake.INVALID, ip,
                                codes=[{"field": None, "code": "too_large"}])  # fmt: skip
        raise Refusal(413, "too_large", _("The submission is too large (at most {limit} KB)",
                                          limit=limit_kb))  # fmt: skip
    return b"".join(chunks)


async def _form_data(request: Request, body: bytes) -> FormData:
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            sent = False

            async def replay() -> AsgiMessage:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await Request(request.scope, replay).form(max_files=0, max_fields=MAX_FIELDS)
        text = body.decode("utf-8")
        return FormData(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS))
    except (ValueError, UnicodeError, HTTPException, MultiPartException):
        raise Refusal(400, "bad_body", BAD_BODY) from None


def _platform(request: Request) -> Any:
    return request.app.state.platform


# -- GET/POST /f/{key} -------------------------------------------------------------------------


async def form_page(request: Request) -> Response:
    platform = _platform(request)
    locale = request_locale(request)
    key = str(request.path_params["key"])
    try:
        form, entity = await run_in_threadpool(_published, platform, key)
    except Refusal as refusal:
        return _message_page(locale, refusal.message, refusal.status)
    return await run_in_threadpool(_form_response, platform, form, entity, locale, {}, [], None)


async def form_submit(request: Request) -> Response:
    platform = _platform(request)
    locale = request_locale(request)
    ip = client_ip(request)
    key = str(request.path_params["key"])
    try:
        form, entity = await run_in_threadpool(_admit, platform, key, ip)
        body = await _body(request, platform, form, ip)
        form_data = await _form_data(request, body)
    except Refusal as refusal:
        return _message_page(locale, refusal.message, refusal.status, refusal.retry)
    try:
        return await run_in_threadpool(_handle_form, platform, form, entity, form_data, ip, locale)
    finally:
        await form_data.close()


def _handle_form(
    platform: Any,
    form: WebForm,
    entity: EntityDef,
    form_data: FormData,
    ip: str | None,
    locale: str,
) -> Response:
    honeypot = form_data.get(spam.honeypot_name(entity))
    token = form_data.get(spam.TOKEN_FIELD)
    token = token if isinstance(token, str) else None
    verdict = "honeypot" if honeypot else spam.fill_problem(platform, form.key, token)
    shown = intake.shown_fields(platform, form, entity)
    values = intake.values_from_form(platform, form_data, shown)
    outcome = intake.submit(platform, form, values, ip=ip, spam=verdict)
    if outcome.accepted:
        if form.redirect_url:
            return RedirectResponse(form.redirect_url, status_code=303, headers=PAGE_HEADERS)
        return _message_page(locale, _thanks(form, locale), 200, kind="thanks")
    if outcome.status == intake.UNAVAILABLE:
        return _message_page(locale, UNAVAILABLE, 503)
    return _form_response(platform, form, entity, locale, values, list(outcome.errors), token)


def _form_response(
    platform: Any,
    form: WebForm,
    entity: EntityDef,
    locale: str,
    values: Mapping[str, Any],
    errors: list[FieldError],
    token: str | None,
) -> HTMLResponse:
    shown = intake.shown_fields(platform, form, entity)
    fields = build_form(platform, entity, shown, values, errors, locale, raw=True)
    other = next(code for code in LOCALES if code != locale)
    html = TEMPLATES.get_template("webforms/form.html").render(
        lang=locale,
        t=_translator(locale),
        title=form.name,
        fields=fields,
        general_errors=general_errors(errors, [f.key for f in shown], locale),
        action=f"/f/{form.key}?lang={locale}",
        token_field=spam.TOKEN_FIELD,
        token=token or spam.fill_token(platform, form.key),
        honeypot=spam.honeypot_name(entity),
        other_language="English" if other == "en" else "中文",
        other_url=f"/f/{form.key}?lang={other}",
    )
    return HTMLResponse(html, status_code=422 if errors else 200, headers=PAGE_HEADERS)


def _message_page(
    locale: str,
    message: Message | str,
    status: int,
    retry: int | None = None,
    *,
    kind: str = "error",
) -> HTMLResponse:
    text = message.render(locale) if isinstance(message, Message) else message
    html = TEMPLATES.get_template("webforms/message.html").render(
        lang=locale, t=_translator(locale), message=text, kind=kind
    )
    headers = dict(PAGE_HEADERS)
    if retry is not None:
        headers["Retry-After"] = str(retry)
    return HTMLResponse(html, status_code=status, headers=headers)


def _thanks(form: WebForm, locale: str) -> str:
    return pick_label(form.thank_you, locale) if form.thank_you else THANKS.render(locale)


def _translator(locale: str) -> Any:
    return lambda msgid, **params: Message(msgid, **params).render(locale)


# -- POST /api/forms/{key} ---------------------------------------------------------------------


async def api_submit(request: Request) -> Response:
    if request.method == "OPTIONS":
        return Response(status_code=204, headers=PREFLIGHT_HEADERS)
    platform = _platform(request)
    locale = request_locale(request)
    ip = client_ip(request)
    key = str(request.path_params["key"])
    try:
        form, entity = await run_in_threadpool(_admit, platform, key, ip)
        body = await _body(request, platform, form, ip)
        try:
            document = json.loads(body)
        except (ValueError, UnicodeError):
            document = None
        if not isinstance(document, dict):
            raise Refusal(400, "bad_json", BAD_JSON)
    except Refusal as refusal:
        return _json_error(locale, refusal.status, refusal.code, refusal.message, refusal.retry)
    return await run_in_threadpool(_handle_json, platform, form, entity, document, ip, locale)


def _handle_json(
    platform: Any,
    form: WebForm,
    entity: EntityDef,
    document: dict[str, Any],
    ip: str | None,
    locale: str,
) -> Response:
    """Like the HTML form, without the fill-time check (a script has no page to dwell on)."""
    honeypot = spam.honeypot_name(entity)
    shown = intake.shown_fields(platform, form, entity)
    values, errors = intake.values_from_json(document, shown, honeypot)
    verdict = "honeypot" if document.get(honeypot) else None
    outcome = intake.submit(platform, form, values, ip=ip, spam=verdict, input_errors=errors)
    if outcome.accepted:
        return JSONResponse({"status": "created", "message": _thanks(form, locale)},
                            status_code=201, headers=CORS_HEADERS)  # fmt: skip
    if outcome.status == intake.UNAVAILABLE:
        return _json_error(locale, 503, "unavailable", UNAVAILABLE)
    return JSONResponse({"errors": [e.to_dict(locale) for e in outcome.errors]},
                        status_code=422, headers=CORS_HEADERS)  # fmt: skip


def _json_error(
    locale: str, status: int, code: str, message: Message, retry: int | None = None
) -> JSONResponse:
    headers = dict(CORS_HEADERS)
    if retry is not None:
        headers["Retry-After"] = str(retry)
    body = {"errors": [FieldError(None, code, message).to_dict(locale)]}
    return JSONResponse(body, status_code=status, headers=headers)


def routes() -> list[BaseRoute]:
    return [
        Route("/f/{key}", form_page, methods=["GET"]),
        Route("/f/{key}", form_submit, methods=["POST"]),
        Route("/api/forms/{key}", api_submit, methods=["POST", "OPTIONS"]),
    ]
