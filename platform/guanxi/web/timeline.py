"""The record timeline (UI-07): follow-ups, notes, tasks and other records that point at this
one, its change history, its files and plugin items, in one stream, newest first; with forms
to add a follow-up (DATA-16), a note (DATA-15) and a file (DATA-14) in place.

Every item is read through the record service as the actor (one query per referencing module,
capped), so scopes, hidden fields and masks apply exactly as on the records' own pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi import attachments
from guanxi.auth.fields import Level
from guanxi.errors import FieldError, GuanxiError, NotFound, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.store.system_tables import user
from guanxi.web.display import Cell, Presenter, by_key, entity_title
from guanxi.web.forms import FormField, build_form, general_errors, submitted
from guanxi.web.screen import Screen, screen

PER_MODULE = 20
HISTORY_LIMIT = 50
KINDS = ("all", "followup", "note", "change", "file")
# What a referencing record shows besides its title, per module (others: none).
SUMMARY_FIELDS = {
    "followup": ("method", "contact", "feedback", "next_step", "next_followup_at"),
    "task": ("status", "due_at", "owner_id"),
    "note": ("shared",),
}
BODY_FIELDS = ("content", "description")
FOLLOWUP_FORM = ("method", "contact", "content", "feedback", "next_step", "next_followup_at")
NOTE_FORM = ("content", "shared")


@dataclass
class Item:
    """One entry of the stream, whatever it came from."""

    at: datetime | None
    kind: str
    title: str
    href: str | None = None
    author: str = ""
    body: str = ""
    fields: list[tuple[str, Cell]] = field(default_factory=list)
    changes: list[tuple[str, Cell, Cell]] = field(default_factory=list)
    reason: str = ""
    file: dict[str, Any] | None = None


@dataclass
class Composer:
    """The forms shown above the stream, with what the last submission left in them."""

    followup: list[FormField] | None = None
    note: list[FormField] | None = None
    upload: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)  # form -> general errors
    upload_error: str = ""


# -- reading ----------------------------------------------------------------------------------


def load_record(s: Screen, entity_name: str, record_id: int) -> tuple[EntityDef, dict[str, Any]]:
    """The record as the actor sees it, or NotFound (read by query: no second access-log row
    next to the detail page's own)."""
    entity = s.platform.registry.snapshot().entity(entity_name)
    page = s.platform.records.query(
        s.actor, entity.name, {"field": "id", "op": "eq", "value": record_id}, limit=1
    )
    if not page.rows:
        raise NotFound(_("No such record"))
    return entity, page.rows[0]


def linking_fields(child: EntityDef, entity: EntityDef) -> list[FieldDef]:
    """Reference fields of `child` that point at `entity`: how its records join the timeline."""
    return [f for f in child.fields if f.type == "reference" and f.reference == entity.name and
            not f.hidden]  # fmt: skip


def referencing(s: Screen, entity: EntityDef, record_id: int) -> list[tuple[EntityDef, list]]:
    """Each viewable module pointing at the record, with its newest records that do (capped)."""
    access = s.platform.records.access(s.actor)
    found = []
    for child in s.platform.registry.snapshot().entities.values():
        if not access.allows(child.name, "view"):
            continue
        mask = access.mask(child)
        links = [f for f in linking_fields(child, entity) if mask.level(f.key) >= Level.READ]
        if not links:
            continue
        conditions = [{"field": f.key, "op": "eq", "value": record_id} for f in links]
        try:
            page = s.platform.records.query(
                s.actor,
                child.name,
                conditions[0] if len(conditions) == 1 else {"or": conditions},
                sort=["-created_at"],
                limit=PER_MODULE,
            )
        except GuanxiError:
            continue
        found.append((child, page.rows))
    return found


def build_stream(
    s: Screen, entity: EntityDef, record: dict[str, Any], kind: str
) -> tuple[list[Item], list[tuple[EntityDef, list]]]:
    record_id = record["id"]
    access = s.platform.records.access(s.actor)
    related = referencing(s, entity, record_id)
    items: list[Item] = []
    for child, rows in related:
        items.extend(_record_items(s, child, access.mask(child), rows))
    items.extend(_change_items(s, entity, access.mask(entity), record_id))
    can_edit = None
    for row in attachments.for_record(s.platform, entity.name, record_id):
        if can_edit is None:
            can_edit = attachments.can_edit(s.platform, s.actor, entity.name, record_id)
        mine = s.actor.user_id is not None and row["created_by"] == s.actor.user_id
        items.append(
            Item(row["created_at"], "file", row["filename"], f"/attachments/{row['id']}",
                 row["created_by_name"] or "", file={**row, "can_delete": mine or can_edit,
                       "size_text": size_text(row["size"])})
        )  # fmt: skip
    items.extend(_plugin_items(s, entity, record))
    _name_authors(s, items)
    items = [i for i in items if kind == "all" or _tab_of(i.kind) == kind]
    items.sort(key=lambda i: i.at or datetime.min, reverse=True)
    return items, related


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _tab_of(kind: str) -> str:
    return {"task": "followup"}.get(kind, kind)


def _record_items(s: Screen, child: EntityDef, mask: Any, rows: list) -> list[Item]:
    keys = [k for k in SUMMARY_FIELDS.get(child.name, ()) if mask.level(k) >= Level.MASKED]
    fields = [child.field(k) for k in keys if child.get_field(k)]
    presenter = Presenter(s.platform, s.actor, child, s.locale, mask).load(rows, fields)
    body_key = next((k for k in BODY_FIELDS if child.get_field(k) and k in rows[0]), None) if rows \
        else None  # fmt: skip
    kind = child.name if child.name in ("followup", "note", "task") else "record"
    items = []
    for row in rows:
        cells = [(f.title(s.locale), presenter.cell(f, row)) for f in fields]
        cells = [(label, cell) for label, cell in cells if cell.text]
        title = child.title(s.locale)
        name = entity_title(child, row)
        if kind == "task":
            title = f"{title}: {name}"
        elif kind != "followup" or "method" not in keys:
            title = f"{title} {name}"
        else:
            method = next((c for label, c in cells if label == child.field("method").title(s.locale)),
                          None)  # fmt: skip
            cells = [(label, c) for label, c in cells if c is not method]
            title = f"{title} · {method.text}" if method else title
        items.append(
            Item(row.get("followed_at") or row.get("created_at"), kind, title,
                 f"/r/{child.name}/{row['id']}", str(row.get("created_by") or ""),
                 str(row.get(body_key) or "") if body_key else "", cells)
        )  # fmt: skip
    return items


def _change_items(s: Screen, entity: EntityDef, mask: Any, record_id: int) -> list[Item]:
    entries = s.platform.records.history(s.actor, entity.name, record_id)[-HISTORY_LIMIT:]
    fields = by_key(f for f in entity.visible_fields if mask.level(f.key) >= Level.MASKED)
    pseudo: list[dict[str, Any]] = []
    parsed_entries = []
    for entry in entries:
        pairs = []
        for key, values in (entry["changes"] or {}).items():
            field_def = fields.get(key)
            if field_def is None or key in ("locked",) or not isinstance(values, list | tuple):
                continue
            old, new = (_parsed(s, field_def, mask, v) for v in values)
            pseudo.extend(({key: old}, {key: new}))
            pairs.append((field_def, old, new))
        parsed_entries.append((entry, pairs))
    presenter = Presenter(s.platform, s.actor, entity, s.locale, mask).load(pseudo, fields.values())
    verbs = {"create": s.t("Created"), "update": s.t("Changed"), "lock": s.t("Locked"),
             "unlock": s.t("Unlocked"), "delete": s.t("Deleted"), "merge": s.t("Merged")}  # fmt: skip
    items = []
    for entry, pairs in parsed_entries:
        if entry["op"] == "update" and not pairs and not entry.get("reason"):
            continue  # only fields this actor cannot see changed
        changes = []
        if entry["op"] != "create":
            changes = [
                (
                    f.title(s.locale),
                    presenter.cell(f, {f.key: old}),
                    presenter.cell(f, {f.key: new}),
                )
                for f, old, new in pairs
            ]
        items.append(
            Item(entry["at"], "change", verbs.get(entry["op"], entry["op"]), None,
                 str(entry.get("actor_id") or entry.get("actor_name") or ""), "", [], changes,
                 entry.get("reason") or "")
        )  # fmt: skip
    return items


def _parsed(s: Screen, field_def: FieldDef, mask: Any, value: Any) -> Any:
    """A history value (JSON form) back as the field type holds it, for the Presenter."""
    if value is None or mask.level(field_def.key) == Level.MASKED:
        return value
    try:
        return s.platform.types.for_field(field_def).parse(value, field_def)
    except Exception:  # a value an admin change made unparseable: show it as it was stored
        return value


def _plugin_items(s: Screen, entity: EntityDef, record: dict[str, Any]) -> list[Item]:
    items = []
    answers = s.platform.pm.hook.timeline_items(
        platform=s.platform, actor=s.actor, entity=entity, record=record
    )
    for answer in answers:
        for raw in answer or []:
            if not isinstance(raw, Mapping):
                continue
            href = raw.get("href")
            at = raw.get("at")
            items.append(
                Item(at if isinstance(at, datetime) else None, str(raw.get("kind") or "plugin"),
                     s.label(raw.get("title") or ""),
                     href if isinstance(href, str) and href.startswith("/") and
                     not href.startswith("//") else None,
                     s.label(raw.get("author") or ""), s.label(raw.get("body") or ""))
            )  # fmt: skip
    return items


def _name_authors(s: Screen, items: list[Item]) -> None:
    """User ids -> display names for every item, in one read."""
    ids = {int(i.author) for i in items if i.kind != "file" and i.author.isdigit()}
    names: dict[int, str] = {}
    if ids:
        with s.platform.db.read() as connection:
            rows = connection.execute(
                sa.select(user.c.id, user.c.display_name).where(user.c.id.in_(sorted(ids)))
            )
            names = {row[0]: row[1] for row in rows}
    for item in items:
        if item.kind != "file" and item.author.isdigit():
            item.author = names.get(int(item.author), "")


# -- the composer -----------------------------------------------------------------------------


def child_input(
    entity: EntityDef, record: dict[str, Any], child: EntityDef
) -> dict[str, Any] | None:
    """Reference values that link a new child record to this one (and to its customer), or
    None when the child cannot point at this module (its form is then not offered)."""
    links = linking_fields(child, entity)
    if not links:
        return None
    values: dict[str, Any] = {f.key: record["id"] for f in links}
    customer_field = child.get_field("customer")
    if (
        customer_field is not None
        and "customer" not in values
        and isinstance(record.get("customer"), int)
    ):
        values["customer"] = record["customer"]
    return values


def composer(
    s: Screen,
    entity: EntityDef,
    record: dict[str, Any],
    related: list[tuple[EntityDef, list]],
    *,
    submitted_form: str | None = None,
    values: Mapping[str, Any] | None = None,
    errors: Iterable[FieldError] = (),
    upload_error: str = "",
) -> Composer:
    snapshot = s.platform.registry.snapshot()
    access = s.platform.records.access(s.actor)
    errors = list(errors)
    built = Composer(upload_error=upload_error)
    for name, keys in (("followup", FOLLOWUP_FORM), ("note", NOTE_FORM)):
        if name not in snapshot.entities or not access.allows(name, "create"):
            continue
        child = snapshot.entity(name)
        links = child_input(entity, record, child)
        if links is None:
            continue
        mask = access.mask(child)
        fields = [child.field(k) for k in keys if child.get_field(k) and k not in links
                  and mask.level(k) == Level.WRITE and not child.field(k).hidden]  # fmt: skip
        mine = submitted_form == name
        defaults = {f.key: f.default for f in fields if f.default is not None}
        form = build_form(
            s.platform,
            child,
            fields,
            values if mine and values else defaults,
            errors if mine else [],
            s.locale,
            raw=mine and values is not None,
        )
        if name == "followup":
            _contact_choices(s, form, related)
        setattr(built, name, form)
        if mine:
            built.errors[name] = general_errors(errors, [f.key for f in fields], s.locale)
    built.upload = attachments.can_edit(s.platform, s.actor, entity.name, record["id"])
    return built


def _contact_choices(s: Screen, form: list[FormField], related: list) -> None:
    """The contact picker becomes a choice among this record's contacts (already loaded)."""
    for ff in form:
        if ff.key == "contact":
            contacts = next((rows for child, rows in related if child.name == "contact"), None)
            if contacts is None:
                form.remove(ff)
                return
            contact_entity = next(child for child, _rows in related if child.name == "contact")
            ff.widget = "select"
            ff.options = [(str(row["id"]), entity_title(contact_entity, row)) for row in contacts]
            ff.value = str(ff.value or "")
            return


# -- screens ----------------------------------------------------------------------------------


def render_timeline(
    s: Screen,
    entity: EntityDef,
    record: dict[str, Any],
    *,
    kind: str = "all",
    status: int = 200,
    notice: str = "",
    **composer_args: Any,
) -> Response:
    items, related = build_stream(s, entity, record, kind)
    return s.render(
        "timeline/fragment.html",
        status=status,
        entity=entity,
        record=record,
        items=items,
        kind=kind,
        kinds=[(k, _kind_label(s, k)) for k in KINDS],
        base=f"/r/{entity.name}/{record['id']}",
        composer=composer(s, entity, record, related, **composer_args),
        max_mb=s.platform.settings.attachment_max_mb,
        notice=notice,
    )


def _kind_label(s: Screen, kind: str) -> str:
    return {"all": s.t("All"), "followup": s.t("Follow-ups"), "note": s.t("Notes"),
            "change": s.t("Changes"), "file": s.t("Files")}[kind]  # fmt: skip


@screen
def timeline(s: Screen) -> Response:
    entity, record = load_record(s, s.path_params["entity"], s.path_params["record_id"])
    kind = str(s.params.get("kind") or "all")
    return render_timeline(s, entity, record, kind=kind if kind in KINDS else "all")


def _add(s: Screen, name: str, keys: tuple[str, ...]) -> Response:
    entity, record = load_record(s, s.path_params["entity"], s.path_params["record_id"])
    snapshot = s.platform.registry.snapshot()
    child = snapshot.entity(name)
    links = child_input(entity, record, child)
    if links is None:
        raise NotFound(_("No such record"))
    assert s.form is not None
    data = {k: v for k, v in submitted(s.form, child, s.platform.types).items() if k in keys}
    try:
        s.platform.records.create(s.actor, name, {**data, **links})
    except ValidationFailed as failed:
        raw = {k: s.form.get(k) or "" for k in keys}
        if "shared" in raw:
            raw["shared"] = s.form.get("shared") in ("on", "true", "1")
        return render_timeline(s, entity, record, status=422, submitted_form=name,
                               values=raw, errors=failed.errors)  # fmt: skip
    if not s.is_htmx:
        return s.redirect(f"/r/{entity.name}/{record['id']}#timeline")
    notice = s.t("Follow-up saved") if name == "followup" else s.t("Note saved")
    return render_timeline(s, entity, record, notice=notice)


@screen
def add_followup(s: Screen) -> Response:
    return _add(s, "followup", FOLLOWUP_FORM)


@screen
def add_note(s: Screen) -> Response:
    return _add(s, "note", NOTE_FORM)


def routes() -> list[BaseRoute]:
    base = "/r/{entity:str}/{record_id:int}"
    return [
        Route(f"{base}/timeline", timeline),
        Route(f"{base}/followups", add_followup, methods=["POST"]),
        Route(f"{base}/notes", add_note, methods=["POST"]),
    ]
