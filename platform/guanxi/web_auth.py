"""Who is asking (PERM-09): the session cookie or a bearer token becomes request.state.actor,
unsafe cookie-authenticated requests must carry the session's CSRF token; /login and /logout."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guanxi.actor import Actor
from guanxi.auth.login import AccountLocked, LoginFailed, LoginService
from guanxi.errors import FieldError
from guanxi.i18n import DEFAULT_LOCALE, LOCALES, _
from guanxi.i18n import Message as Text
from guanxi.settings import Settings
from guanxi.templating import TEMPLATES

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_CSRF_COOKIE = "guanxi_login_csrf"
LOGIN_PATH = "/login"
MAX_FORM_BODY = 16 * 1024 * 1024  # bigger uploads send the CSRF token as a header
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
PUBLIC_FORM_PATHS = ("/f/", "/api/forms/")  # public web forms (API-04), see AuthMiddleware
# The form holds a CSRF token: never cached, never framed (no clickjacking of the password).
LOGIN_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}

LOGIN_TEXTS = {
    "title": _("Sign in to Guanxi"),
    "username": _("User name"),
    "password": _("Password"),
    "submit": _("Sign in"),
}
CSRF_FAILED = _(
    "This form has expired or did not come from this site (CSRF check failed). "
    "Reload the page and try again."
)

TOKEN_API_ONLY = _("A token narrowed to some modules or to reading only works only with /api/")


def session_cookie_name(settings: Settings) -> str:
    # __Host- cookies are only accepted over HTTPS, for Path=/, without Domain: no subdomain
    # or plain-http page can plant or overwrite them.
    return "__Host-guanxi_session" if settings.cookie_secure else "guanxi_session"


def request_locale(request: Request, actor: Actor | None = None) -> str:
    """?lang= first, then the user's own locale, then Accept-Language; Chinese by default."""
    wanted = _locale_of(request.query_params.get("lang", ""))
    if wanted:
        return wanted
    if actor is not None and actor.locale in LOCALES:
        return actor.locale
    ranked = []
    for position, part in enumerate(request.headers.get("accept-language", "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag))
    for _quality, _position, tag in sorted(ranked):
        found = _locale_of(tag)
        if found:
            return found
    return DEFAULT_LOCALE


def _locale_of(tag: str) -> str | None:
    tag = tag.strip().lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def wants_json(request: Request) -> bool:
    return (
        request.url.path.startswith("/api/")
        or "application/json" in request.headers.get("accept", "")
        or request.headers.get("content-type", "").startswith("application/json")
    )


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def error_response(request: Request, status: int, field_error: FieldError, locale: str) -> Response:
    if wants_json(request):
        return JSONResponse({"errors": [field_error.to_dict(locale)]}, status_code=status)
    html = TEMPLATES.get_template("error.html").render(
        lang=locale, message=field_error.message.render(locale)
    )
    return HTMLResponse(html, status_code=status)


class AuthMiddleware:
    """Pure ASGI: resolves the actor before any route runs and enforces CSRF for cookies."""

    def __init__(self, app: ASGIApp, platform: Any) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        login: LoginService = self.platform.login
        ip = client_ip(request)
        state = scope.setdefault("state", {})
        state.update(actor=None, csrf_token=None, auth=None)
        if scope["path"].startswith(PUBLIC_FORM_PATHS):
            # Public web forms act as the form's configured owner, never as whoever is signed
            # in: neither session nor token is read (the actor stays None), so a staff member
            # posting the form makes an anonymous submission, needs no CSRF token (the page
            # carries none: it is embedded on other sites) and trips no CSRF check.
            await self.app(scope, receive, send)
            return
        scheme, _sep, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            actor = await run_in_threadpool(login.token_actor, credentials.strip(), ip)
            if actor is None:
                response = error_response(
                    request,
                    401,
                    FieldError(None, "invalid_token", _("The API token is not valid")),
                    request_locale(request),
                )
                response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
                await response(scope, receive, send)
                return
            if (
                actor.token_scope is not None
                and actor.token_scope.narrowed
                and not scope["path"].startswith("/api/")
            ):  # screens and admin pages do not all open a module: narrowed tokens stay in /api/
                response = error_response(
                    request,
                    403,
                    FieldError(None, "token_scope", TOKEN_API_ONLY),
                    request_locale(request, actor),
                )
                await response(scope, receive, send)
                return
            # A browser never attaches Authorization on its own, so tokens need no CSRF check.
            state.update(actor=actor, auth="token")
            await self.app(scope, receive, send)
            return
        cookie = request.cookies.get(session_cookie_name(login.settings))
        if cookie:
            found = await run_in_threadpool(login.session_actor, cookie, ip)
            if found is not None:
                state.update(actor=found[0], csrf_token=found[1], auth="session")
        # /login checks its own pre-session token (the user may be switching accounts).
        if (
            scope["method"] in UNSAFE_METHODS
            and state["auth"] == "session"
            and scope["path"] != LOGIN_PATH
        ):
            submitted, receive = await _submitted_csrf_token(scope, receive)
            if not submitted or not hmac.compare_digest(submitted, state["csrf_token"]):
                locale = request_locale(request, state["actor"])
                response = error_response(
                    request, 403, FieldError(CSRF_FIELD, "csrf", CSRF_FAILED), locale
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _submitted_csrf_token(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """The token from the X-CSRF-Token header or the form field; the body, if read, is
    replayed to the application."""
    request = Request(scope)
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header, receive
    if not request.headers.get("content-type", "").startswith(FORM_TYPES):
        return None, receive
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if size > MAX_FORM_BODY:
            return None, _replay(messages, receive)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    form = await Request(scope, _replay(messages, receive)).form()
    try:
        value = form.get(CSRF_FIELD)
    finally:
        await form.close()
    return (value if isinstance(value, str) else None), _replay(messages, receive)


def _replay(messages: list[Message], receive: Receive) -> Callable[[], Awaitable[Message]]:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


# -- /login and /logout ---------------------------------------------------------------------


def login_service(request: Request) -> LoginService:
    return request.app.state.platform.login  # type: ignore[no-any-return]


def safe_next(target: object, default: str = "/") -> str:
    """Only a path on this site: never //host or a scheme (no open redirect)."""
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and all(ord(c) >= 32 for c in target)
    ):
        return target
    return default


def _login_csrf(request: Request) -> tuple[str, str | None]:
    """(token for the form, cookie to set or None): a signed double-submit cookie, reused
    while valid so several open tabs keep working."""
    signer = login_service(request).signer("login-csrf")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if cookie:
        try:
            return signer.unsign(cookie).decode(), None
        except (BadSignature, UnicodeError):
            pass
    token = secrets.token_urlsafe(32)
    return token, signer.sign(token).decode()


def _login_page(
    request: Request,
    *,
    status: int = 200,
    error: Text | None = None,
    username: str = "",
    next_path: str = "/",
) -> Response:
    locale = request_locale(request)
    token, cookie = _login_csrf(request)
    other = "en" if locale != "en" else "zh-CN"
    html = TEMPLATES.get_template("login.html").render(
        lang=locale,
        text={key: message.render(locale) for key, message in LOGIN_TEXTS.items()},
        other_language="English" if other == "en" else "中文",
        other_url=f"{LOGIN_PATH}?lang={other}&next={quote(next_path, safe='/')}",
        action=f"{LOGIN_PATH}?lang={locale}",
        error=error.render(locale) if error is not None else None,
        username=username,
        next_path=next_path,
        csrf_token=token,
    )
    response = HTMLResponse(html, status_code=status, headers=LOGIN_PAGE_HEADERS)
    if cookie is not None:
        settings = login_service(request).settings
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            cookie,
            path="/",
            secure=settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
    return response


async def login_form(request: Request) -> Response:
    return _login_page(request, next_path=safe_next(request.query_params.get("next")))


async def login_submit(request: Request) -> Response:
    login = login_service(request)
    form = await request.form()
    username = form.get("username")
    password = form.get("password")
    username = username if isinstance(username, str) else ""
    next_path = safe_next(form.get("next"))
    expected, fresh_cookie = _login_csrf(request)
    submitted = form.get(CSRF_FIELD)
    if (
        fresh_cookie is not None
        or not isinstance(submitted, str)
        or not hmac.compare_digest(submitted, expected)
    ):
        return _login_page(
            request, status=403, error=CSRF_FAILED, username=username, next_path=next_path
        )
    ip = client_ip(request)
    try:
        cookie_value, _actor = await run_in_threadpool(
            login.login,
            username,
            password if isinstance(password, str) else "",
            ip,
            request.headers.get("user-agent"),
        )
    except (LoginFailed, AccountLocked) as failure:
        return _login_page(
            request,
            status=failure.status,
            error=failure.message,
            username=username,
            next_path=next_path,
        )
    cookie_name = session_cookie_name(login.settings)
    previous = request.cookies.get(cookie_name)
    if previous:  # switching accounts: the old session ends rather than lingering
        await run_in_threadpool(login.logout, previous, ip)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        cookie_name,
        cookie_value,
        max_age=int(login.lifetime.total_seconds()),
        path="/",
        secure=login.settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response


async def logout(request: Request) -> Response:
    login = login_service(request)
    cookie_name = session_cookie_name(login.settings)
    cookie = request.cookies.get(cookie_name)
    if cookie:
        await run_in_threadpool(login.logout, cookie, client_ip(request))
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(
        cookie_name, path="/", secure=login.settings.cookie_secure, httponly=True, samesite="lax"
    )
    return response


def auth_routes() -> list[BaseRoute]:
    return [
        Route(LOGIN_PATH, login_form, methods=["GET"]),
        Route(LOGIN_PATH, login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
