"""The merge screen (DATA-08) at /duplicates/merge/{entity}?ids=1,2[,3]: the records side by
side, a radio for the record to keep and one per field for the value to keep, and the POST
that runs merge.merge; plus the detail page's "find duplicates / merge" action. The service
decides every permission; this module only shows what the actor may see."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.actor import Actor
from guanxi.auth.fields import Level
from guanxi.authorization import Access
from guanxi.defaults.duplicates import merge
from guanxi.defaults.duplicates.rules import RuleBook
from guanxi.errors import FieldError, GuanxiError, PermissionDenied, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.store.system_tables import attachment
from guanxi.web.display import Presenter, entity_title
from guanxi.web.screen import Screen, screen

PAGE = "duplicates/merge.html"
FRAGMENT = "duplicates/_merge_form.html"
FIELD_PREFIX = "field."
VERSION_PREFIX = "version."


def merge_url(entity: str, ids: Iterable[int]) -> str:
    return f"/duplicates/merge/{entity}?ids=" + ",".join(str(i) for i in ids)


@screen
def merge_page(s: Screen) -> Response:
    entity = s.platform.registry.snapshot().entity(s.path_params["entity"])
    if s.form is not None:
        return _submit(s, entity)
    ids = merge.parse_ids(entity.name, _split(s.params.get("ids")))
    view = _comparison(s, entity, ids, _number(s.params.get("survivor")))
    return s.render(FRAGMENT if s.is_htmx else PAGE, **view)


def _submit(s: Screen, entity: EntityDef) -> Response:
    assert s.form is not None
    ids = merge.parse_ids(entity.name, _split(s.form.get("ids")))
    survivor = _number(s.form.get("survivor"))
    chosen = {
        key[len(FIELD_PREFIX) :]: value
        for key, value in s.form.multi_items()
        if key.startswith(FIELD_PREFIX) and isinstance(value, str)
    }
    versions = {
        i: version
        for i in ids
        if (version := _number(s.form.get(f"{VERSION_PREFIX}{i}"))) is not None
    }
    try:
        if survivor not in ids:
            raise ValidationFailed(
                [FieldError("survivor", "required", _("Choose the record to keep"))]
            )
        assert survivor is not None
        others = [i for i in ids if i != survivor]
        result = merge.merge(
            s.platform, s.actor, entity.name, survivor, others, chosen, versions=versions
        )
    except GuanxiError as error:
        view = _comparison(s, entity, ids, survivor, chosen=chosen, errors=error.errors)
        return s.render(PAGE, status=error.status, **view)
    return s.redirect(f"/r/{entity.name}/{result.survivor['id']}?notice=merged")


def _comparison(
    s: Screen,
    entity: EntityDef,
    ids: Sequence[int],
    survivor: int | None,
    *,
    chosen: Mapping[str, str] | None = None,
    errors: Iterable[FieldError] = (),
) -> dict[str, Any]:
    """What the page shows: one column per record, the rows that differ (with a radio each
    where the actor may write the field) and, folded away, the rows that are the same."""
    platform = s.platform
    access = platform.records.access(s.actor)
    merge.check_may_merge(access, entity)
    # as the actor sees them (masked, NotFound outside scope); views of logged modules are logged
    records = {i: platform.records.get(s.actor, entity.name, i) for i in ids}
    mask = access.mask(entity)
    if survivor not in records:
        survivor = min(ids, key=lambda i: (records[i].get("created_at") is None,
                                           records[i].get("created_at"), i))  # fmt: skip
    fields = merge.comparable_fields(entity, mask)
    picks = {k: str(v) for k, v in merge.default_choices(fields, records, survivor).items()}
    picks.update({k: v for k, v in (chosen or {}).items() if k in picks})
    header = [entity.field(k) for k in ("owner_id", "created_at") if entity.get_field(k)]
    presenter = Presenter(platform, s.actor, entity, s.locale, mask)
    presenter.load(records.values(), [*fields, *header])
    differing, same = [], []
    for field in fields:
        values = [records[i].get(field.key) for i in ids]
        row = {
            "key": field.key,
            "label": field.title(s.locale),
            "choosable": mask.level(field.key) == Level.WRITE,
            "cells": [
                {"record_id": i, "cell": presenter.cell(field, records[i]),
                 "checked": picks.get(field.key) == str(i)}
                for i in ids
            ],
        }  # fmt: skip
        (same if all(v == values[0] for v in values) else differing).append(row)
    shown_errors = list(errors)
    return {
        "entity": entity,
        "entity_label": entity.title(s.locale),
        "action": f"/duplicates/merge/{entity.name}",
        "ids_value": ",".join(str(i) for i in ids),
        "survivor": survivor,
        "columns": [
            {
                "id": i,
                "title": entity_title(entity, r),
                "number": r.get("number") or f"#{i}",
                "version": r.get("version"),
                "href": f"/r/{entity.name}/{i}",
                "header": [(f.title(s.locale), presenter.cell(f, r)) for f in header],
                "survive_url": merge_url(entity.name, ids) + f"&survivor={i}",
            }
            for i, r in records.items()
        ],  # fmt: skip
        "rows": differing,
        "same": same,
        "related": _related_counts(s, entity, access, ids),
        "field_errors": {e.field: e.message.render(s.locale) for e in shown_errors if e.field},
        "errors": [e.message.render(s.locale) for e in shown_errors],
        "back": f"/r/{entity.name}",
    }


def _related_counts(
    s: Screen, entity: EntityDef, access: Access, ids: Sequence[int]
) -> list[dict[str, Any]]:
    """Per module that references this one, how many of its records (that the actor can
    see) point at each record: all of them move to the survivor. One query per module."""
    platform = s.platform
    found = []
    for child in platform.registry.snapshot().entities.values():
        if not access.allows(child.name, "view"):
            continue
        child_mask = access.mask(child)
        for field in child.visible_fields:
            if field.reference != entity.name or child_mask.level(field.key) < Level.READ:
                continue
            rows = platform.records.aggregate(
                s.actor, child.name, {"field": field.key, "op": "in", "value": list(ids)},
                group_by=[field.key],
            )  # fmt: skip
            counts = {row[field.key]: int(row["count"]) for row in rows}
            label = child.title(s.locale)
            if sum(1 for f in child.visible_fields if f.reference == entity.name) > 1:
                label = f"{label}（{field.title(s.locale)}）"
            found.append({"label": label, "counts": [counts.get(i, 0) for i in ids]})
    with platform.db.read() as connection:
        files = dict(
            connection.execute(
                sa.select(attachment.c.record_id, sa.func.count())
                .where(attachment.c.entity == entity.name, attachment.c.record_id.in_(ids))
                .group_by(attachment.c.record_id)
            ).all()
        )
    found.append({"label": s.t("Files"), "counts": [int(files.get(i, 0)) for i in ids]})
    return found


def _split(value: Any) -> list[str]:
    return [part for part in str(value or "").split(",") if part.strip()]


def _number(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


# -- the detail page's action ------------------------------------------------------------------


def record_actions(
    platform: Any, book: RuleBook, actor: Actor, entity: EntityDef, record: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """ "Find duplicates / merge" when a duplicate rule matches other records of the module
    that the actor can see, and the actor may merge; it opens the comparison with them."""
    rules = book.covering(entity.name)
    if not rules or not record.get("id"):
        return []
    access = platform.records.access(actor)
    try:
        merge.check_may_merge(access, entity)
    except PermissionDenied:
        return []
    # the rule's keys come from the stored values: the actor's copy may be masked
    stored = platform.records.get(Actor.system(), entity.name, record["id"], log_view=False)
    matched: list[int] = []
    with platform.db.read() as connection:
        for rule in rules:
            for other, other_id in book.matches(
                connection, rule, entity.name, stored, stored["id"]
            ):
                if other == entity.name and other_id not in matched:
                    matched.append(other_id)
    if not matched:
        return []
    visible = platform.records.query(
        actor, entity.name, {"field": "id", "op": "in", "value": matched}, limit=len(matched)
    ).rows
    others = [i for i in matched if i in {row["id"] for row in visible}][: merge.MAX_RECORDS - 1]
    if not others:
        return []
    return [{"label": _("Find duplicates / merge"),
             "href": merge_url(entity.name, [stored["id"], *others])}]  # fmt: skip


def routes() -> list[BaseRoute]:
    return [Route("/duplicates/merge/{entity:str}", merge_page, methods=["GET", "POST"])]
