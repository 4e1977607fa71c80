"""/api/v1/{entity} and /api/v1/{entity}/{id} (API-01): list, create, get, patch and delete of
any entity the registry holds now (core, plugin or admin-created), all through
platform.records, so masks, scopes, validation, history and hooks apply exactly as on screens."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import JSONResponse, Response

from guanxi.auth.fields import FieldMask
from guanxi.auth.version import versions
from guanxi.errors import ConflictError, NotFound, QueryError
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.records import GONE
from guanxi.rest.endpoint import ApiCall
from guanxi.rest.params import parse_list_query, query_problem
from guanxi.rest.problems import ApiProblem, bad_request, error_response, version_required
from guanxi.rest.serialize import etag, parse_etags

_ID = re.compile(r"[0-9]{1,18}")
MAX_REASON = 500


def caller_view(call: ApiCall, entity_name: str) -> tuple[EntityDef, FieldMask]:
    """The entity now and the caller's field mask, from one read (both versions at once)."""
    platform = call.platform
    with platform.db.read() as connection:
        meta_version, auth_version = versions(connection)
        entity = platform.registry.snapshot(connection, meta_version).entity(entity_name)
        access = platform.authorizer.access(connection, call.actor, auth_version)
    return entity, access.mask(entity)


def record_id(call: ApiCall) -> int:
    """The {id} of the path; anything but a positive 64-bit number is no record (404)."""
    raw = call.path("id")
    if not _ID.fullmatch(raw) or int(raw) < 1:
        raise NotFound(_("No such record"))
    return int(raw)


def reason(call: ApiCall) -> str | None:
    found = call.request.query_params.get("reason")
    if found is None or not found.strip():
        return None
    if len(found) > MAX_REASON or "\x00" in found:
        raise bad_request(
            _("A reason has at most {n} characters", n=MAX_REASON), field="reason", code="too_long"
        )
    return found.strip()


def record_url(entity: str, record_id: Any) -> str:
    return f"/api/v1/{quote(entity)}/{record_id}"


def _record_response(
    call: ApiCall, entity: EntityDef, mask: FieldMask, record: dict[str, Any], status: int = 200
) -> JSONResponse:
    body = call.api.writer.record(entity, mask, record)
    headers = {"ETag": etag(record["version"])}
    if status == 201:
        headers["Location"] = record_url(entity.name, record["id"])
    return JSONResponse(body, status_code=status, headers=headers)


# -- collection ---------------------------------------------------------------------------------


def list_records(call: ApiCall) -> Response:
    entity_name = call.path("entity")
    query = parse_list_query(call.request.query_params)
    entity, mask = caller_view(call, entity_name)
    records = call.platform.records
    try:
        page = records.query(
            call.actor,
            entity.name,
            query.filters or None,
            sort=query.sort or None,
            limit=query.limit,
            after=query.cursor,
            search=query.search,
        )
        counted = (
            records.count(call.actor, entity.name, query.filters or None, search=query.search)
            if query.count
            else None
        )
    except QueryError as error:
        raise query_problem(error) from None
    meta: dict[str, Any] = {"limit": page.limit, "next_cursor": page.next_cursor}
    if counted is not None:
        meta.update(count=counted.value, count_exact=counted.exact)
    return JSONResponse(
        {
            "data": call.api.writer.records(entity, mask, page.rows),
            "links": {
                "self": _page_url(call, None),
                "next": _page_url(call, page.next_cursor) if page.next_cursor else None,
            },
            "meta": meta,
        }
    )


def _page_url(call: ApiCall, cursor: str | None) -> str:
    """This list's URL (path and query, host-free so it works behind any proxy), on `cursor`."""
    items = [(k, v) for k, v in call.request.query_params.multi_items() if k != "cursor"]
    if cursor:
        items.append(("cursor", cursor))
    query = urlencode(items)
    return call.request.url.path + (f"?{query}" if query else "")


def _confirmed(call: ApiCall) -> bool:
    """`?confirm_duplicates=true`: save although a duplicate rule warned (DATA-07)."""
    return call.request.query_params.get("confirm_duplicates", "").lower() in ("1", "true")


def create_record(call: ApiCall) -> Response:
    entity_name = call.path("entity")
    entity, mask = caller_view(call, entity_name)
    record = call.platform.records.create(
        call.actor, entity.name, call.body or {}, reason=reason(call),
        confirm_duplicates=_confirmed(call),
    )  # fmt: skip
    return _record_response(call, entity, mask, record, status=201)


# -- one record ---------------------------------------------------------------------------------


def get_record(call: ApiCall) -> Response:
    entity_name, wanted = call.path("entity"), record_id(call)
    entity, mask = caller_view(call, entity_name)
    record = call.platform.records.get(call.actor, entity.name, wanted)
    tags = parse_etags(call.request.headers.get("if-none-match"))
    if tags == "*" or (isinstance(tags, set) and record["version"] in tags):
        return Response(status_code=304, headers={"ETag": etag(record["version"])})
    return _record_response(call, entity, mask, record)


def update_record(call: ApiCall) -> Response:
    entity_name, wanted = call.path("entity"), record_id(call)
    entity, mask = caller_view(call, entity_name)
    changes = dict(call.body or {})
    expected = _expected_version(call, entity, wanted, changes.pop("version", None))
    records = call.platform.records
    try:
        record = records.update(
            call.actor, entity.name, wanted, changes, version=expected, reason=reason(call),
            confirm_duplicates=_confirmed(call),
        )  # fmt: skip
    except ConflictError as conflict:
        return _conflict(call, entity, mask, wanted, conflict)
    return _record_response(call, entity, mask, record)


def _expected_version(call: ApiCall, entity: EntityDef, wanted: int, given: Any) -> int:
    """The version the client based its change on: If-Match, else the body's `version`.
    Neither is 428; `If-Match: *` knowingly overwrites whatever is current."""
    if given is not None and (
        isinstance(given, bool) or not isinstance(given, int) or not 1 <= given < 2**63
    ):
        raise ApiProblem(
            _("version must be the record's version number, e.g. 3"),
            status=422,
            code="bad_version",
            field="version",
        )
    header = call.request.headers.get("if-match")
    tags = parse_etags(header)
    if tags is None:
        if given is None:
            raise version_required()
        return int(given)
    if tags == "*":
        current = call.platform.records.get(
            call.actor, entity.name, wanted, action="edit", log_view=False
        )
        return int(current["version"])
    if not tags:
        raise bad_request(
            _('If-Match must be an ETag this API gave, e.g. "3"'), field="If-Match", code="bad_etag"
        )
    if given is not None and given not in tags:
        raise bad_request(
            _("If-Match and version name different versions"), field="version", code="bad_version"
        )
    return int(given) if given is not None else max(tags)


def _conflict(
    call: ApiCall, entity: EntityDef, mask: FieldMask, wanted: int, conflict: ConflictError
) -> Response:
    """409 with the record as it is now, so the client can merge and retry."""
    current = conflict.current
    if current is None:
        current = call.platform.records.get(call.actor, entity.name, wanted, log_view=False)
    body = call.api.writer.record(entity, mask, current)
    response = error_response(conflict, call.locale, extra={"current": body})
    response.headers["ETag"] = etag(current["version"])
    return response


def delete_record(call: ApiCall) -> Response:
    entity_name, wanted = call.path("entity"), record_id(call)
    entity, mask = caller_view(call, entity_name)
    records = call.platform.records
    header = call.request.headers.get("if-match")
    tags = parse_etags(header)
    if isinstance(tags, set):
        if not tags:
            raise bad_request(
                _('If-Match must be an ETag this API gave, e.g. "3"'),
                field="If-Match",
                code="bad_etag",
            )
        current = records.get(call.actor, entity.name, wanted, action="delete", log_view=False)
        if current["version"] not in tags:
            conflict = ConflictError(
                _("Someone else saved this record first; reload to see their change"),
                current=current,
            )
            return _conflict(call, entity, mask, wanted, conflict)
        expected = current["version"]  # checked again by the service, under the row lock
    else:
        expected = None
    try:
        outcome = records.delete(
            call.actor, entity.name, wanted, reason=reason(call), version=expected
        )
    except ConflictError as conflict:
        return _conflict(call, entity, mask, wanted, conflict)
    if outcome in GONE:
        return Response(status_code=204)
    return JSONResponse({"outcome": outcome}, status_code=202)


# -- the index ----------------------------------------------------------------------------------


def list_modules(call: ApiCall) -> Response:
    """The modules the caller may read, with what they may do there."""
    platform, actor = call.platform, call.actor
    access = platform.records.access(actor)
    scope = actor.token_scope
    data = []
    for entity in platform.registry.snapshot().entities.values():
        allowed = [
            action
            for action in ("view", "create", "edit", "delete")
            if access.allows(entity.name, action)
            and (scope is None or scope.allows(entity.name, action))
        ]
        if "view" in allowed:
            data.append(
                {
                    "name": entity.name,
                    "label": entity.title(call.locale),
                    "actions": allowed,
                    "url": f"/api/v1/{entity.name}",
                }
            )
    return JSONResponse({"data": sorted(data, key=lambda item: item["name"])})
