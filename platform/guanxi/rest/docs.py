"""/api/docs (API-02): Swagger UI (vendored, works offline) on the caller's own OpenAPI
document; people who are not signed in go to the login page first."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from guanxi.i18n import LOCALES, Message
from guanxi.templating import TEMPLATES
from guanxi.web_auth import request_locale

DOCS_PATH = "/api/docs"


async def api_docs(request: Request) -> Response:
    actor = request.state.actor
    if actor is None:
        return RedirectResponse(f"/login?next={quote(DOCS_PATH)}", status_code=303)
    locale = request_locale(request, actor)
    html = TEMPLATES.get_template("api/docs.html").render(
        lang=locale,
        t=lambda msgid, **params: Message(msgid, **params).render(locale),
        other_locale=next(other for other in LOCALES if other != locale),
        csrf_token=request.state.csrf_token or "",
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})
