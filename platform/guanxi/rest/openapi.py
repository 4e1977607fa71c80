"""/api/openapi.json (API-02): an OpenAPI 3.1 document generated from the effective metadata
(custom fields and admin-created modules included) and cut to the caller: only modules they
may view, only fields their mask shows, write schemas with only fields they may write, only
operations they may perform. Cached per (metadata version, auth version, role set, token
narrowing, language): a changed field or grant is in the next document any worker serves."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from guanxi.actor import Actor
from guanxi.auth.version import versions
from guanxi.authorization import Access
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.rest.endpoint import ApiCall
from guanxi.rest.params import DEFAULT_LIMIT, MAX_LIMIT
from guanxi.rest.schemas import (
    ERROR_SCHEMA,
    create_schema,
    filterable_fields,
    record_schema,
    update_schema,
)
from guanxi.web_auth import session_cookie_name

MAX_CACHED = 256
OPENAPI_VERSION = "3.1.0"
API_DESCRIPTION = """\
Records of every module of this Guanxi install, generated from its current metadata and cut
to what the caller may see and do. Authenticate with `Authorization: Bearer <API token>` (or a
signed-in session plus the `X-CSRF-Token` header for changes).

Lists: `filter` (JSON filter tree, or `filter[field]=value` / `filter[field][op]=value`),
`sort=-amount,name` (up to four keys), `limit` (1-200, default 50), `cursor` (from
`links.next`), `q` (quick search), `count=true`. Every response carries the record's version
as `ETag`; PATCH needs `If-Match` or a `version` field (stale: 409 with the current record).
Decimal numbers (money, percent) are exact strings such as "12000.50"; times are UTC
("2024-03-05T06:30:00Z"). Errors: `{"errors": [{"field", "code", "message"}]}` in the
request's language (`?lang=en`, the user's language or Accept-Language). Full guide: docs/api.md.
"""
ERROR_STATUSES = {
    "400": "Bad parameter or body (the error names it)",
    "401": "No valid API token or session",
    "403": "Not permitted (role, token narrowing or CSRF)",
    "404": "No such module or record (or outside your scope)",
    "409": "The record changed since the version you sent",
    "413": "Request body too large",
    "415": "Body is not JSON",
    "422": "Invalid record (every field error listed)",
    "423": "The record is locked",
    "428": "Send If-Match or a version field",
    "429": "Rate limit reached (see Retry-After)",
}
READ_ERRORS = ("400", "401", "403", "404", "429")
WRITE_ERRORS = ("400", "401", "403", "404", "413", "415", "422", "429")
CHANGE_ERRORS = ("400", "401", "403", "404", "409", "413", "415", "422", "423", "428", "429")
DELETE_ERRORS = ("400", "401", "403", "404", "409", "422", "423", "429")


def openapi_document(call: ApiCall) -> Response:
    platform, actor = call.platform, call.actor
    with platform.db.read() as connection:
        meta_version, auth_version = versions(connection)
        snapshot = platform.registry.snapshot(connection, meta_version)
        access = platform.authorizer.access(connection, actor, auth_version)
    scope = actor.token_scope
    key = (
        meta_version,
        auth_version,
        "system" if actor.is_system else actor.roles,
        (scope.modules, scope.read_only) if scope is not None else None,
        call.locale,
    )
    cached = call.api.documents.get(key)
    if cached is None:
        document = build_document(platform, actor, access, snapshot.entities.values(), call.locale)
        cached = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        if len(call.api.documents) >= MAX_CACHED:
            call.api.documents.clear()
        call.api.documents[key] = cached
    return Response(cached, media_type="application/json")


def build_document(
    platform: Any, actor: Actor, access: Access, entities: Any, locale: str
) -> dict[str, Any]:
    types = platform.types
    scope = actor.token_scope

    def may(entity: EntityDef, action: str) -> bool:
        return access.allows(entity.name, action) and (
            scope is None or scope.allows(entity.name, action)
        )

    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    tags = []
    for entity in sorted(entities, key=lambda e: e.name):
        if not may(entity, "view"):
            continue
        mask = access.mask(entity)
        name = entity.name
        label = entity.label
        tags.append({"name": name, "description": entity.title(locale)})
        schemas[name] = record_schema(types, entity, mask, locale)
        schemas[f"{name}_page"] = _page_schema(name)
        ref = {"$ref": f"#/components/schemas/{name}"}
        collection: dict[str, Any] = {
            "get": {
                "operationId": f"list_{name}",
                "summary": _("List {entity} records", entity=label).render(locale),
                "tags": [name],
                "parameters": _list_parameters(types, entity, mask),
                "responses": {
                    "200": _json(
                        f"A page of {name} records", {"$ref": f"#/components/schemas/{name}_page"}
                    ),
                    **_errors(READ_ERRORS),
                },
            }
        }
        item: dict[str, Any] = {
            "parameters": [{"$ref": "#/components/parameters/id"}],
            "get": {
                "operationId": f"get_{name}",
                "summary": _("One {entity} record", entity=label).render(locale),
                "tags": [name],
                "parameters": [
                    {"$ref": "#/components/parameters/lang"},
                    {"$ref": "#/components/parameters/if_none_match"},
                ],
                "responses": {
                    "200": _json("The record", ref, etag=True),
                    "304": {"description": "Not modified (If-None-Match)"},
                    **_errors(READ_ERRORS),
                },
            },
        }
        if may(entity, "create"):
            schemas[f"{name}_create"] = create_schema(types, entity, mask, locale)
            collection["post"] = {
                "operationId": f"create_{name}",
                "summary": _("Create a {entity} record", entity=label).render(locale),
                "tags": [name],
                "parameters": [
                    {"$ref": "#/components/parameters/lang"},
                    {"$ref": "#/components/parameters/reason"},
                ],
                "requestBody": _body(f"{name}_create"),
                "responses": {
                    "201": _json("Created", ref, etag=True, location=True),
                    **_errors(WRITE_ERRORS),
                },
            }
        if may(entity, "edit"):
            schemas[f"{name}_update"] = update_schema(types, entity, mask, locale)
            item["patch"] = {
                "operationId": f"update_{name}",
                "summary": _("Change fields of a {entity} record", entity=label).render(locale),
                "tags": [name],
                "parameters": [
                    {"$ref": "#/components/parameters/lang"},
                    {"$ref": "#/components/parameters/reason"},
                    {"$ref": "#/components/parameters/if_match"},
                ],
                "requestBody": _body(f"{name}_update"),
                "responses": {
                    "200": _json("The record after the change", ref, etag=True),
                    **_errors(CHANGE_ERRORS),
                },
            }
        if may(entity, "delete"):
            item["delete"] = {
                "operationId": f"delete_{name}",
                "summary": _("Delete a {entity} record", entity=label).render(locale),
                "tags": [name],
                "parameters": [
                    {"$ref": "#/components/parameters/lang"},
                    {"$ref": "#/components/parameters/reason"},
                    {"$ref": "#/components/parameters/if_match"},
                ],
                "responses": {
                    "204": {"description": "Deleted"},
                    "202": _json(
                        "Accepted but not deleted yet (e.g. waiting for approval)",
                        {"$ref": "#/components/schemas/DeleteOutcome"},
                    ),
                    **_errors(DELETE_ERRORS),
                },
            }
        paths[f"/api/v1/{name}"] = collection
        paths[f"/api/v1/{name}/{{id}}"] = item
    schemas["DeleteOutcome"] = {
        "type": "object",
        "required": ["outcome"],
        "properties": {"outcome": {"type": "string", "examples": ["pending_approval"]}},
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Guanxi API", "version": "1", "description": API_DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": [], "csrf": []}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": _shared_parameters(),
            "responses": {
                status: {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
                for status, text in ERROR_STATUSES.items()
            },
            "headers": {
                "ETag": {
                    "description": 'The record\'s version, e.g. "3" (send it back as If-Match)',
                    "schema": {"type": "string"},
                },
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (gx_...) from /api/tokens or `guanxi token create`",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": session_cookie_name(platform.settings),
                },
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
    }


def _page_schema(name: str) -> dict[str, Any]:
    nullable_text = {"type": ["string", "null"]}
    return {
        "type": "object",
        "required": ["data", "links", "meta"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
            "links": {
                "type": "object",
                "required": ["self", "next"],
                "properties": {"self": {"type": "string"}, "next": nullable_text},
            },
            "meta": {
                "type": "object",
                "required": ["limit", "next_cursor"],
                "properties": {
                    "limit": {"type": "integer"},
                    "next_cursor": nullable_text,
                    "count": {"type": "integer", "description": "count=true: at most 10000"},
                    "count_exact": {"type": "boolean", "description": "false: 10000 or more"},
                },
            },
        },
    }


def _json(
    description: str, schema: dict[str, Any], *, etag: bool = False, location: bool = False
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    headers: dict[str, Any] = {}
    if etag:
        headers["ETag"] = {"$ref": "#/components/headers/ETag"}
    if location:
        headers["Location"] = {"description": "The new record's URL", "schema": {"type": "string"}}
    if headers:
        response["headers"] = headers
    return response


def _errors(statuses: tuple[str, ...]) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/{status}"} for status in statuses}


def _body(schema: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _list_parameters(types: Any, entity: EntityDef, mask: Any) -> list[dict[str, Any]]:
    shorthand = [
        {
            "name": f"filter[{field.key}]",
            "in": "query",
            "required": False,
            "description": f"{field.title('en')} equals (filter[{field.key}][op]= for other operators)",
            "schema": {"type": "string"},
        }
        for field in filterable_fields(types, entity, mask)
    ]
    return [
        {"$ref": "#/components/parameters/lang"},
        {"$ref": "#/components/parameters/filter"},
        *shorthand,
        {"$ref": "#/components/parameters/sort"},
        {"$ref": "#/components/parameters/limit"},
        {"$ref": "#/components/parameters/cursor"},
        {"$ref": "#/components/parameters/q"},
        {"$ref": "#/components/parameters/count"},
    ]


def _shared_parameters() -> dict[str, Any]:
    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }

    return {
        "id": {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {
                "type": "integer",
                "format": "int64",
                "minimum": 1,
                "maximum": 999_999_999_999_999_999,
            },
        },
        "lang": query("lang", "Language of messages and labels", {"enum": ["zh-CN", "en"]}),
        "reason": query(
            "reason",
            "Why (kept in the history; some fields and modules require one)",
            {"type": "string", "maxLength": 500},
        ),
        "filter": query(
            "filter",
            'A JSON filter tree: {"field": "stage", "op": "in", "value": ["won", "lost"]}, '
            '{"and": [...]}, {"or": [...]}, {"not": {...}} or a list (all must hold)',
            {"type": "string"},
        ),
        "sort": query(
            "sort",
            "Up to four field keys, comma-separated; '-' sorts descending",
            {"type": "string", "examples": ["-created_at", "-amount,name"]},
        ),
        "limit": query(
            "limit",
            f"Records per page (default {DEFAULT_LIMIT})",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        ),
        "cursor": query("cursor", "meta.next_cursor of the previous page", {"type": "string"}),
        "q": query(
            "q",
            "Quick search over the module's search fields",
            {"type": "string", "maxLength": 200},
        ),
        "count": query("count", "Add meta.count (capped at 10000)", {"type": "boolean"}),
        "if_match": {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "description": 'The ETag (version) the change is based on, e.g. "3"; * overwrites',
            "schema": {"type": "string"},
        },
        "if_none_match": {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "304 when the record still has this version",
            "schema": {"type": "string"},
        },
    }
