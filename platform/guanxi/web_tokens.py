"""/api/me and /api/tokens (PERM-09): who am I, and a user's own API tokens as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from guanxi.actor import Actor
from guanxi.errors import FieldError, GuanxiError
from guanxi.i18n import _
from guanxi.web_auth import login_service, request_locale


class TokenNeedsLogin(GuanxiError):
    status = 403
    code = "session_required"

    def __init__(self) -> None:
        super().__init__(_("Create API tokens while signed in, not with another token"))


class TokenReadOnly(GuanxiError):
    status = 403
    code = "token_read_only"

    def __init__(self) -> None:
        super().__init__(_("This API token is read-only"))


class BadTokenRequest(GuanxiError):
    status = 422
    code = "invalid"


def _error(request: Request, error: GuanxiError) -> JSONResponse:
    locale = request_locale(request, request.state.actor)
    return JSONResponse(error.to_dict(locale), status_code=error.status)


def _unauthenticated(request: Request) -> JSONResponse:
    error = FieldError(None, "unauthenticated", _("Sign in or send an API token"))
    return JSONResponse(
        {"errors": [error.to_dict(request_locale(request))]},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() + "Z" if isinstance(v, datetime) else v) for k, v in row.items()}


async def me(request: Request) -> JSONResponse:
    actor: Actor | None = request.state.actor
    if actor is None:
        return _unauthenticated(request)
    return JSONResponse(
        {
            "user_id": actor.user_id,
            "username": actor.username,
            "roles": sorted(actor.roles),
            "locale": actor.locale,
            "auth": request.state.auth,
            "csrf_token": request.state.csrf_token,
            "token": _scope_json(actor),
        }
    )


def _scope_json(actor: Actor) -> dict[str, Any] | None:
    """How the request's token narrows the user's permissions (None for a session)."""
    scope = actor.token_scope
    if scope is None:
        return None
    modules = sorted(scope.modules) if scope.modules is not None else None
    return {"id": scope.token_id, "modules": modules, "read_only": scope.read_only}


async def list_tokens(request: Request) -> JSONResponse:
    actor: Actor | None = request.state.actor
    if actor is None or actor.user_id is None:
        return _unauthenticated(request)
    listed = await run_in_threadpool(login_service(request).list_tokens, actor, actor.user_id)
    return JSONResponse({"tokens": [_jsonable(t) for t in listed]})


async def create_token(request: Request) -> JSONResponse:
    """{"name": ..., "expires_at": ISO 8601 or null, "modules": [...] or null, "read_only":
    false} -> the token, shown this once. modules/read_only narrow it (API-01)."""
    actor: Actor | None = request.state.actor
    if actor is None or actor.user_id is None:
        return _unauthenticated(request)
    try:
        if request.state.auth != "session":  # a leaked token must not mint its successors
            raise TokenNeedsLogin()
        body = await _json_object(request)
        issued = await run_in_threadpool(
            lambda: login_service(request).create_token(
                actor,
                actor.user_id,
                body.get("name", ""),
                _parse_time(body.get("expires_at")),
                modules=body.get("modules"),
                read_only=body.get("read_only", False),
            )
        )
    except GuanxiError as error:
        return _error(request, error)
    shown = {
        "id": issued.id,
        "token": issued.token,
        "prefix": issued.prefix,
        "name": issued.name,
        "expires_at": issued.expires_at,
        "modules": list(issued.modules) if issued.modules is not None else None,
        "read_only": issued.read_only,
    }
    return JSONResponse(_jsonable(shown), status_code=201)


async def revoke_token(request: Request) -> Response:
    actor: Actor | None = request.state.actor
    if actor is None:
        return _unauthenticated(request)
    try:
        if actor.token_scope is not None and actor.token_scope.read_only:
            raise TokenReadOnly()
        await run_in_threadpool(
            login_service(request).revoke_token, actor, int(request.path_params["token_id"])
        )
    except GuanxiError as error:
        return _error(request, error)
    return Response(status_code=204)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = await request.json()
    except ValueError as error:
        raise BadTokenRequest(_("The request body is not valid JSON")) from error
    if not isinstance(body, dict):
        raise BadTokenRequest(_("The request body must be a JSON object"))
    return body


def _parse_time(value: object) -> datetime | None:
    if value is None:
        return None
    problem = BadTokenRequest(
        _("Give the expiry as an ISO 8601 time, e.g. 2030-01-31T00:00:00Z"), field="expires_at"
    )
    if not isinstance(value, str):
        raise problem
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise problem from error


def token_routes() -> list[BaseRoute]:
    return [
        Route("/api/me", me, methods=["GET"]),
        Route("/api/tokens", list_tokens, methods=["GET"]),
        Route("/api/tokens", create_token, methods=["POST"]),
        Route("/api/tokens/{token_id:int}", revoke_token, methods=["DELETE"]),
    ]
