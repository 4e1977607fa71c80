"""One request to a screen: who asks, in which language, and how a page or fragment answers.

`screen(handler)` turns a plain synchronous function `handler(Screen) -> Response` into a
Starlette endpoint: it sends anonymous users to /login, reads a submitted form first (the
handler runs in a worker thread, where it may block on the database), and answers any
GuanxiError the handler lets through with a calm page or an htmx toast — never a stack trace.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from guanxi.actor import Actor
from guanxi.auth.vocabulary import term
from guanxi.errors import GuanxiError
from guanxi.i18n import LOCALES, Message, pick_label
from guanxi.templating import TEMPLATES
from guanxi.web_auth import request_locale

log = logging.getLogger(__name__)

MAX_UPLOAD_FIELDS = 2000
Handler = Callable[["Screen"], Response]


@dataclass
class Screen:
    request: Request
    actor: Actor
    locale: str
    form: FormData | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def platform(self) -> Any:
        return self.request.app.state.platform

    @property
    def params(self) -> QueryParams:
        return self.request.query_params

    @property
    def path_params(self) -> Mapping[str, Any]:
        return self.request.path_params

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    @property
    def csrf_token(self) -> str:
        return self.request.state.csrf_token or ""

    def t(self, msgid: str, **params: Any) -> str:
        """Translate a msgid (English) into the screen's language."""
        return Message(msgid, **params).render(self.locale)

    def label(self, value: Any) -> str:
        if isinstance(value, Message):
            return value.render(self.locale)
        return pick_label(value, self.locale)

    def render(
        self,
        template: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = TEMPLATES.get_template(template).render(self.base_context(), **context)
        return HTMLResponse(html, status_code=status, headers=dict(headers or {}))

    def base_context(self) -> dict[str, Any]:
        from guanxi.web.chrome import chrome  # the navigation needs the platform, once per page
        from guanxi.web.display import format_moment

        return {
            "lang": self.locale,
            "t": self.t,
            "label": self.label,
            "fmt_time": lambda value: format_moment(value, self.locale),
            "term": lambda code: term(str(code), self.locale),
            "csrf_token": self.csrf_token,
            "actor": self.actor,
            "screen": self,
            "path": self.request.url.path,
            "full_path": _full_path(self.request),
            "other_locale": next(loc for loc in LOCALES if loc != self.locale),
            "chrome": chrome(self) if not self.is_htmx else None,
        }

    def redirect(self, url: str) -> Response:
        """After a POST: a normal 303, or HX-Redirect for htmx so the whole page moves."""
        if self.is_htmx:
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    def toast(self, message: str, *, status: int = 200, kind: str = "error") -> HTMLResponse:
        """A message shown in the page's toast area, whatever element the request targeted."""
        html = TEMPLATES.get_template("_toast.html").render(message=message, kind=kind)
        return HTMLResponse(
            html,
            status_code=status,
            headers={"HX-Retarget": "#toasts", "HX-Reswap": "beforeend"},
        )

    def error_page(self, error: GuanxiError) -> Response:
        message = "；".join(e.message.render(self.locale) for e in error.errors) or self.t(
            "Something went wrong"
        )
        if self.is_htmx:
            return self.toast(message, status=error.status)
        return self.render("error_page.html", status=error.status, message=message, error=error)


def _full_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def login_redirect(request: Request) -> Response:
    target = "/login?" + urlencode({"next": _full_path(request)})
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def screen(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        actor: Actor | None = request.state.actor
        if actor is None:
            return login_redirect(request)
        form = None
        if request.method not in ("GET", "HEAD"):
            form = await request.form(max_fields=MAX_UPLOAD_FIELDS)
        current = Screen(request, actor, request_locale(request, actor), form)

        def run() -> Response:
            try:
                return handler(current)
            except GuanxiError as error:
                return current.error_page(error)

        try:
            return await run_in_threadpool(run)
        finally:
            if form is not None:
                await form.close()

    return endpoint


def url_with(request_or_params: Request | QueryParams, **changes: Any) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    params = (
        request_or_params.query_params
        if isinstance(request_or_params, Request)
        else request_or_params
    )
    items = [(k, v) for k, v in params.multi_items() if k not in changes]
    for key, value in changes.items():
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            items.extend((key, str(v)) for v in value)
        else:
            items.append((key, str(value)))
    return "?" + urlencode(items, quote_via=quote) if items else "?"
