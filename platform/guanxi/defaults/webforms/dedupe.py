"""Duplicates among web form submissions (API-04): a form's match fields as one
`find_duplicate` rule, and what happens to a submission that duplicates an existing record (a
note on that record when the CRM has notes for it, and a message to its owner)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from guanxi import notifications
from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.errors import GuanxiError
from guanxi.i18n import DEFAULT_LOCALE, Message, _
from guanxi.meta.entity import EntityDef, FieldDef

log = logging.getLogger(__name__)

SOURCE = "web_form"
NOTE_ENTITY = "note"
NOTE_TEXT_FIELD = "content"
NOTIFICATION_KIND = "web_form"
NOT_COPIED = _("(given, not copied here)")

# The match fields of the form whose submission is being checked. The hook's arguments are
# shared with every other duplicate rule, so the form travels beside them, in this context.
_match_fields: ContextVar[tuple[str, ...]] = ContextVar("web_form_match_fields", default=())


@contextmanager
def matching(fields: tuple[str, ...]) -> Iterator[None]:
    token = _match_fields.set(fields)
    try:
        yield
    finally:
        _match_fields.reset(token)


def find_by_match_fields(
    platform: Any, entity: EntityDef, record: Mapping[str, Any], source: str
) -> int | None:
    """An existing record whose match fields equal every match field the visitor filled in
    (values already normalized by their field types: trimmed, mobiles as digits). Read as the
    system, so a record of any owner counts: one person is one customer, whoever has it."""
    wanted = [key for key in _match_fields.get() if entity.get_field(key) is not None]
    if source != SOURCE or not wanted:
        return None
    conditions = []
    for key in wanted:
        value = record.get(key)
        if value is None or value == "" or value == []:
            continue
        json_value = platform.types.for_field(entity.field(key)).to_json(value)
        conditions.append({"field": key, "op": "eq", "value": json_value})
    if not conditions:
        return None
    try:
        page = platform.records.query(Actor.system(), entity.name, {"and": conditions}, limit=1)
    except GuanxiError:
        log.warning("web form duplicate check on %s failed", entity.name, exc_info=True)
        return None
    return int(page.rows[0]["id"]) if page.rows else None


def attach_to_existing(
    platform: Any,
    entity: EntityDef,
    existing_id: int,
    data: Mapping[str, Any],
    shown: list[FieldDef],
    form_name: str,
    form_owner_id: int,
    ip: str | None,
) -> None:
    """Tell the existing record's owner (or else the form's) that the person wrote again, with
    a note on the record where a note module refers to this entity."""
    system = Actor.system().from_ip(ip)
    try:
        existing = platform.records.get(system, entity.name, existing_id, log_view=False)
    except GuanxiError:
        log.warning("duplicate %s #%s vanished", entity.name, existing_id)
        return
    owner_id = existing.get("owner_id") or form_owner_id
    with platform.db.read() as connection:
        owner = identity.load_actor(connection, int(owner_id))
    locale = owner.locale if owner is not None else DEFAULT_LOCALE
    title = str(existing.get(entity.title_field) or existing.get("number") or f"#{existing_id}")
    _add_note(platform, entity, existing_id, existing.get("owner_id"), system,
              _note_text(platform, data, shown, form_name, locale))  # fmt: skip
    with platform.db.unit_of_work() as connection:
        notifications.notify(
            connection,
            int(owner_id),
            NOTIFICATION_KIND,
            Message(
                "Web form '{form}': {title} wrote again", form=form_name, title=title
            ).all_locales(),
            link=f"/r/{entity.name}/{existing_id}",
            source=(entity.name, existing_id),
        )


def _add_note(
    platform: Any,
    entity: EntityDef,
    record_id: int,
    owner_id: Any,
    system: Actor,
    text: str,
) -> None:
    note = platform.registry.snapshot().entities.get(NOTE_ENTITY)
    if note is None or note.get_field(NOTE_TEXT_FIELD) is None:
        return
    link = next((f for f in note.input_fields if f.reference == entity.name), None)
    if link is None:
        return
    values: dict[str, Any] = {link.key: record_id, NOTE_TEXT_FIELD: text}
    if owner_id is not None:
        values["owner_id"] = owner_id  # the note belongs with the record, to its owner
    try:
        platform.records.create(system, NOTE_ENTITY, values)
    except GuanxiError:
        log.warning("could not add a web form note to %s #%s", entity.name, record_id,
                    exc_info=True)  # fmt: skip


def _note_text(
    platform: Any, data: Mapping[str, Any], shown: list[FieldDef], form_name: str, locale: str
) -> str:
    """What the person submitted, as people read it. Sensitive fields (mobile, e-mail) are
    named but not copied: a note has no field masks, so it must not reveal them."""
    lines = [Message("Submitted again through the web form '{form}'.", form=form_name)
             .render(locale)]  # fmt: skip
    for field in shown:
        value = data.get(field.key)
        if value is None or value == "" or value == []:
            continue
        label = field.title(locale)
        if field.sensitive:
            lines.append(f"{label}: {NOT_COPIED.render(locale)}")
            continue
        try:
            text = platform.types.for_field(field).format(value, field, locale)
        except (TypeError, ValueError, AttributeError):  # shown raw rather than not at all
            text = str(value)
        lines.append(f"{label}: {text}")
    return "\n".join(lines)
