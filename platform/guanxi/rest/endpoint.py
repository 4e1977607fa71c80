"""One API route (API-01) as a pure ASGI app: method dispatch (405 with Allow), the caller (401),
the rate limit (429), the JSON body (413/415/400), then the handler in a worker thread (the
record service blocks on the database); every GuanxiError becomes the JSON error shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from guanxi.actor import Actor
from guanxi.auth.tokens import check_token_scope
from guanxi.errors import GuanxiError, NotFound, PermissionDenied
from guanxi.i18n import _
from guanxi.rest.body import read_json_object
from guanxi.rest.problems import (
    ApiProblem,
    error_response,
    method_not_allowed,
    rate_limited,
    unauthenticated,
)
from guanxi.rest.ratelimit import RateLimiter
from guanxi.rest.serialize import RecordWriter
from guanxi.web_auth import request_locale

if TYPE_CHECKING:
    from guanxi.core import Guanxi

BODY_METHODS = frozenset({"POST", "PATCH"})


@dataclass
class ApiServices:
    """Per-application state of the API: the rate limiter, the record writer and the cache of
    OpenAPI documents (filled by guanxi.rest.openapi)."""

    limiter: RateLimiter
    writer: RecordWriter
    documents: dict[Any, bytes] = field(default_factory=dict)


@dataclass
class ApiCall:
    request: Request
    platform: Guanxi
    actor: Actor
    locale: str
    api: ApiServices
    body: dict[str, Any] | None = None

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[[ApiCall], Response]


def api_services(scope: Scope) -> ApiServices:
    state = scope["app"].state
    found = getattr(state, "guanxi_api", None)
    if found is None:
        platform: Guanxi = state.platform
        found = ApiServices(
            RateLimiter(platform.settings.api_rate_limit), RecordWriter(platform.types)
        )
        state.guanxi_api = found
    return found  # type: ignore[no-any-return]


class ApiEndpoint:
    """Handlers per method for one path. `actions` maps each method to the module action it
    needs, so a 405's Allow header lists only what this caller may do (as their OpenAPI
    document does)."""

    def __init__(
        self, handlers: Mapping[str, Handler], *, actions: Mapping[str, str] | None = None
    ) -> None:
        self.handlers = dict(handlers)
        self.allowed = sorted(self.handlers)
        self.actions = dict(actions or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        actor: Actor | None = request.state.actor
        locale = request_locale(request, actor)
        api = api_services(scope)
        limit_headers: dict[str, str] = {}
        try:
            if actor is None:
                raise unauthenticated()
            handler = self.handlers.get(request.method)
            if handler is None:
                allowed = self.allowed
                if self.actions:
                    allowed = await run_in_threadpool(self._allowed_for, scope, actor)
                raise method_not_allowed(request.method, allowed)
            decision = api.limiter.take(_client_key(actor))
            limit_headers = decision.headers()
            if not decision.allowed:
                raise rate_limited(decision.retry_after, limit_headers)
            if request.method in self.actions and request.method != "GET":
                # A write the caller may not make is not in their OpenAPI document either:
                # 405 with their Allow list and the reason, before the body is read.
                refusal = await run_in_threadpool(self._refusal, scope, actor, request.method)
                if refusal is not None:
                    raise refusal
            platform: Guanxi = scope["app"].state.platform
            call = ApiCall(request, platform, actor, locale, api)
            if request.method in BODY_METHODS:
                call.body = await read_json_object(request, platform.settings.api_max_body_kb)
            response = await run_in_threadpool(handler, call)
        except GuanxiError as error:
            response = error_response(error, locale)
        for name, value in limit_headers.items():
            response.headers.setdefault(name, value)
        await response(scope, receive, send)

    def _refusal(self, scope: Scope, actor: Actor, method: str) -> GuanxiError | None:
        """Why this caller may not use `method` here (their role or their token), as a 405
        carrying the service's own message and code; None when they may."""
        platform: Guanxi = scope["app"].state.platform
        entity = platform.registry.snapshot().entity(str(scope["path_params"]["entity"]))
        action = self.actions[method]
        try:
            platform.records.access(actor).check_module(entity, action)
            if actor.token_scope is not None:
                check_token_scope(actor.token_scope, entity, action)
        except PermissionDenied as denied:
            try:
                allowed = self._allowed_for(scope, actor)
            except NotFound:  # not even their module: the refusal a GET there gets (403)
                return denied
            return ApiProblem(denied.message, status=405, code=denied.code,
                              headers={"Allow": ", ".join(allowed)})  # fmt: skip
        return None

    def _allowed_for(self, scope: Scope, actor: Actor) -> list[str]:
        """The methods of this path the caller may use on its module (NotFound when they may
        not even view it: then the path does not exist for them)."""
        platform: Guanxi = scope["app"].state.platform
        entity = platform.registry.snapshot().entity(str(scope["path_params"]["entity"]))
        access = platform.records.access(actor)
        token = actor.token_scope
        allowed = [
            method
            for method, action in self.actions.items()
            if access.allows(entity.name, action)
            and (token is None or token.allows(entity.name, action))
        ]
        if "GET" not in allowed:
            raise NotFound(_("Unknown module '{name}'", name=entity.name))
        return sorted(allowed)


def _client_key(actor: Actor) -> tuple[str, int | None]:
    scope = actor.token_scope
    return ("token", scope.token_id) if scope is not None else ("user", actor.user_id)
