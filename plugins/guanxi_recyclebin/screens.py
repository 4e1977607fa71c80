"""The recycle-bin screen (BIN-02): per module, the binned records the viewer could see before,
filtered by who deleted them and when; a read-only view of one; restore (the whole deletion
comes back) and, for administrators, permanent deletion. Every read goes through
`records.query/get` with action "binned", so scopes and field masks apply as on any list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.api import EntityDef, FieldError, GuanxiError, NotFound, ValidationFailed, _
from guanxi.clock import local_midnight_utc
from guanxi.web.display import Presenter, entity_title, readable_fields
from guanxi.web.screen import Screen, screen, url_with
from guanxi_recyclebin import approval, binning
from guanxi_recyclebin.settings import Settings
from guanxi_recyclebin.tables import deletion, item

PATH = "/bin"
PAGE = 50
MAX_SELECTED = 200


@dataclass(frozen=True)
class Row:
    id: int
    number: str
    title: str
    deleted_at: datetime | None
    deleted_by: str
    reason: str
    related: int  # other records binned with it
    part_of: str | None  # "customer #12" when it went in with another record
    may_restore: bool


def routes() -> list[BaseRoute]:
    return [
        Route(PATH, screen(bin_page)),
        Route(PATH + "/restore", screen(restore_action), methods=["POST"]),
        Route(PATH + "/purge", screen(purge_action), methods=["POST"]),
        Route(PATH + "/requests", screen(requests_page)),
        Route(PATH + "/requests/{request_id:int}", screen(decide_action), methods=["POST"]),
        Route(PATH + "/{entity:str}/{record_id:int}", screen(record_page)),
    ]


def _entities(s: Screen) -> list[EntityDef]:
    access = s.platform.records.access(s.actor)
    return [e for e in s.platform.registry.entities() if access.allows(e.name, "view")]


def _chosen(s: Screen, entities: list[EntityDef]) -> EntityDef | None:
    wanted = s.params.get("entity")
    for entity in entities:
        if entity.name == wanted:
            return entity
    return entities[0] if entities and wanted is None else None


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _filters(s: Screen) -> list[dict[str, Any]]:
    """Who deleted (a user id) and when (business-time days, both ends included)."""
    filters: list[dict[str, Any]] = []
    by = s.params.get("by", "")
    if by.isdigit():
        filters.append({"field": "deleted_by", "op": "eq", "value": int(by)})
    start, end = _day(s.params.get("from")), _day(s.params.get("to"))
    if start:
        moment = local_midnight_utc(start)
        filters.append(
            {"field": "deleted_at", "op": "gte", "value": moment.replace(tzinfo=UTC).isoformat()}
        )
    if end:
        moment = local_midnight_utc(end + timedelta(days=1))
        filters.append(
            {"field": "deleted_at", "op": "lt", "value": moment.replace(tzinfo=UTC).isoformat()}
        )
    return filters


def bin_page(s: Screen) -> Response:
    entities = _entities(s)
    entity = _chosen(s, entities)
    if entity is None:
        if s.params.get("entity"):
            raise NotFound(_("No such module"))
        return s.render("guanxi_recyclebin/bin.html", entity=None, entities=entities, rows=[])
    settings = Settings.of(s.platform)
    page = s.platform.records.query(
        s.actor, entity.name, _filters(s), sort=["-deleted_at", "-id"], limit=PAGE,
        after=s.params.get("after") or None, action="binned",
    )  # fmt: skip
    mask = s.platform.records.access(s.actor).mask(entity)
    fields = [f for f in (entity.get_field(k) for k in ("deleted_by",)) if f is not None]
    presenter = Presenter(s.platform, s.actor, entity, s.locale, mask).load(page.rows, fields)
    booked = binning.deletions_by_record(s.platform, entity.name, [r["id"] for r in page.rows])
    admin = binning.is_admin(s.platform, s.actor)
    rows = []
    for record in page.rows:
        found, size = booked.get(int(record["id"]), (None, 1))
        deleted_by = found.deleted_by if found else record.get("deleted_by")
        deleted_at = found.deleted_at if found else record.get("deleted_at")
        part_of = None
        if found and (found.entity, found.record_id) != (entity.name, record["id"]):
            part_of = f"{_label(s, found.entity)} #{found.record_id}"
        by_cell = presenter.cell(fields[0], record).text if fields else ""
        rows.append(
            Row(
                int(record["id"]), str(record.get("number") or ""), entity_title(entity, record),
                deleted_at, (found.deleted_by_name if found else None) or by_cell,
                (found.reason if found else None) or "", size - 1, part_of,
                binning.may_restore(settings, s.actor, admin, deleted_by, deleted_at),
            )
        )  # fmt: skip
    next_url = url_with(s.request, after=page.next_cursor) if page.next_cursor else None
    return s.render(
        "guanxi_recyclebin/bin.html",
        entity=entity,
        entities=entities,
        rows=rows,
        next_url=next_url,
        is_admin=admin,
        params=s.params,
        deleters=_deleters(s, entity),
        notice=_notice(s),
        settings=settings,
    )


def _label(s: Screen, entity_name: str) -> str:
    try:
        return s.platform.registry.get(entity_name).title(s.locale)
    except NotFound:  # a module removed since: its name will do
        return entity_name


def _deleters(s: Screen, entity: EntityDef) -> list[tuple[int, str]]:
    """Who deleted records of this module (for the filter): names kept by the bin."""
    with s.platform.db.read() as connection:
        rows = connection.execute(
            sa.select(deletion.c.deleted_by, sa.func.max(deletion.c.deleted_by_name))
            .join(item, item.c.deletion_id == deletion.c.id)
            .where(item.c.entity == entity.name, deletion.c.deleted_by.is_not(None))
            .group_by(deletion.c.deleted_by)
            .order_by(sa.func.max(deletion.c.deleted_by_name))
        ).all()
    return [(int(user_id), str(name or user_id)) for user_id, name in rows]


def _notice(s: Screen) -> str | None:
    restored, purged = s.params.get("restored"), s.params.get("purged")
    if restored and restored.isdigit():
        return s.t("{count} records restored", count=int(restored))
    if purged and purged.isdigit():
        return s.t("{count} records deleted permanently", count=int(purged))
    return None


def record_page(s: Screen) -> Response:
    """A binned record, read-only, with the fields the viewer may read (masks apply)."""
    entity_name = str(s.path_params["entity"])
    record_id = int(s.path_params["record_id"])
    record = s.platform.records.get(s.actor, entity_name, record_id, action="binned")
    entity = s.platform.registry.get(entity_name)
    mask = s.platform.records.access(s.actor).mask(entity)
    fields = [f for f in readable_fields(entity, mask) if f.key not in ("id", "version")]
    presenter = Presenter(s.platform, s.actor, entity, s.locale, mask).load([record], fields)
    found = binning.deletion_of(s.platform, entity_name, record_id)
    settings = Settings.of(s.platform)
    deleted_by = found.deleted_by if found else record.get("deleted_by")
    deleted_at = found.deleted_at if found else record.get("deleted_at")
    admin = binning.is_admin(s.platform, s.actor)
    return s.render(
        "guanxi_recyclebin/record.html",
        entity=entity,
        record=record,
        title=entity_title(entity, record),
        cells=[(f, presenter.cell(f, record)) for f in fields],
        deletion=found,
        related=[
            (_label(s, e), i)
            for e, i in (found.members if found else ())
            if (e, i) != (entity_name, record_id)
        ],  # fmt: skip
        may_restore=binning.may_restore(settings, s.actor, admin, deleted_by, deleted_at),
        is_admin=admin,
    )


def _selected(s: Screen) -> tuple[str, list[int]]:
    assert s.form is not None
    entity_name = str(s.form.get("entity") or "")
    ids = [int(v) for v in s.form.getlist("ids") if str(v).isdigit()][:MAX_SELECTED]
    if not entity_name or not ids:
        raise ValidationFailed(
            [FieldError("ids", "none_selected", _("Select at least one record"))]
        )
    return entity_name, ids


def restore_action(s: Screen) -> Response:
    entity_name, ids = _selected(s)
    settings = Settings.of(s.platform)
    confirm = s.form is not None and s.form.get("confirm_duplicates") == "1"
    restored: set[tuple[str, int]] = set()
    for record_id in ids:
        if (entity_name, record_id) in restored:
            continue  # came back with an earlier one of the selection
        try:
            restored.update(
                binning.restore(
                    s.platform, settings, s.actor, entity_name, record_id,
                    confirm_duplicates=confirm,
                )
            )  # fmt: skip
        except GuanxiError as error:
            if not restored:
                raise
            message = "；".join(e.message.render(s.locale) for e in error.errors)
            return s.render(
                "guanxi_recyclebin/partial.html", status=error.status, message=message,
                count=len(restored), back=_back(entity_name),
            )  # fmt: skip
    return s.redirect(_back(entity_name, restored=len(restored)))


def purge_action(s: Screen) -> Response:
    entity_name, ids = _selected(s)
    removed = 0
    for record_id in ids:
        try:
            removed += binning.purge(s.platform, s.actor, entity_name, record_id)
        except NotFound:
            continue  # went with an earlier one of the selection
    return s.redirect(_back(entity_name, purged=removed))


def _back(entity_name: str, **notice: int) -> str:
    return f"{PATH}?" + urlencode({"entity": entity_name, **notice})


# -- delete approval (BIN-04) ------------------------------------------------------------------


def requests_page(s: Screen) -> Response:
    waiting, mine = approval.for_user(s.platform, s.actor)
    notices = {
        "approved": s.t("Approved: the record is in the recycle bin"),
        "rejected": s.t("Rejected; the requester is told why"),
    }
    notice = notices.get(s.params.get("done", ""))
    return s.render(
        "guanxi_recyclebin/requests.html",
        waiting=waiting,
        mine=mine,
        labels={e.name: e.title(s.locale) for e in s.platform.registry.entities()},
        notice=notice,
    )


def decide_action(s: Screen) -> Response:
    assert s.form is not None
    request_id = int(s.path_params["request_id"])
    if s.form.get("decision") == "approve":
        approval.approve(s.platform, s.actor, request_id)
        return s.redirect(f"{PATH}/requests?done=approved")
    approval.reject(s.platform, s.actor, request_id, str(s.form.get("reason") or ""))
    return s.redirect(f"{PATH}/requests?done=rejected")
