"""One submission of a public form (API-04), once the HTTP layer has read it: the spam verdict,
the input built from the form's fields and fixed values, the duplicate check, then a record
created as the form's owner through the record pipeline (validation, permissions, numbering,
history and hooks all apply). Every outcome is logged in gx_web_form_submission as codes and
ids only, never what the person typed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock, notifications
from guanxi.auth import identity
from guanxi.defaults.webforms import dedupe
from guanxi.defaults.webforms.service import LIST_WIDGETS, OWNED_KEYS, PUBLIC_WIDGETS, WebForm
from guanxi.errors import FieldError, GuanxiError, ValidationFailed
from guanxi.i18n import DEFAULT_LOCALE, Message, _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.meta.field_types import FieldValueError
from guanxi.store.system_tables import web_form_submission

log = logging.getLogger(__name__)

CREATED, DUPLICATE, INVALID, SPAM, LIMITED = "created", "duplicate", "invalid", "spam", "limited"
CONFIG_CODES = ("forbidden", "read_only", "unknown_field")  # see _not_the_visitors
UNAVAILABLE = "unavailable"  # the form cannot take input now (owner or module gone): logged invalid


@dataclass(frozen=True)
class Outcome:
    status: str  # created | duplicate | invalid | spam | unavailable
    record_id: int | None = None
    errors: tuple[FieldError, ...] = ()

    @property
    def accepted(self) -> bool:
        """What the visitor is told: spam and duplicates get the same thank-you as a new record."""
        return self.status in (CREATED, DUPLICATE, SPAM)


def shown_fields(platform: Any, form: WebForm, entity: EntityDef) -> list[FieldDef]:
    """The form's fields the entity still offers for public input, in the form's order (an
    admin may have hidden or removed one since the form was saved)."""
    inputs = {f.key: f for f in entity.input_fields if f.key not in OWNED_KEYS}
    return [
        inputs[key]
        for key in form.fields
        if key in inputs and platform.types.for_field(inputs[key]).widget in PUBLIC_WIDGETS
    ]


def values_from_form(platform: Any, form_data: Any, shown: Iterable[FieldDef]) -> dict[str, Any]:
    """A posted HTML form -> one value per shown field (checkboxes unticked are False)."""
    values: dict[str, Any] = {}
    for field in shown:
        widget = platform.types.for_field(field).widget
        if widget == "checkbox":
            values[field.key] = form_data.get(field.key) in ("on", "true", "1")
        elif widget in LIST_WIDGETS:
            values[field.key] = [
                v for v in form_data.getlist(field.key) if isinstance(v, str) and v
            ]
        else:
            value = form_data.get(field.key)
            values[field.key] = value.strip() or None if isinstance(value, str) else None
    return values


def values_from_json(
    body: Mapping[str, Any], shown: Iterable[FieldDef], honeypot: str
) -> tuple[dict[str, Any], list[FieldError]]:
    """A JSON object -> values of shown fields; any other key is an error naming it."""
    keys = {field.key for field in shown}
    values = {key: value for key, value in body.items() if key in keys}
    errors = [
        FieldError(str(key), "unknown_field", _("Unknown field '{field}'", field=str(key)))
        for key in body
        if key not in keys and key != honeypot
    ]
    return values, errors


def submit(
    platform: Any,
    form: WebForm,
    values: Mapping[str, Any],
    *,
    ip: str | None,
    spam: str | None = None,
    input_errors: Iterable[FieldError] = (),
) -> Outcome:
    """Turn one submission into a record (or into nothing, for spam and duplicates)."""
    if spam:
        log_outcome(platform, form.id, SPAM, ip, codes=[{"field": None, "code": spam}])
        return Outcome(SPAM)
    entity = platform.registry.snapshot().entities.get(form.entity)
    with platform.db.read() as connection:
        owner = identity.load_actor(connection, form.owner_id, ip=ip)
    if entity is None or owner is None:
        log.warning("web form %s cannot take input: module or owner gone", form.id)
        log_outcome(platform, form.id, INVALID, ip, codes=[{"field": None, "code": UNAVAILABLE}])
        return Outcome(UNAVAILABLE)
    shown = shown_fields(platform, form, entity)
    data: dict[str, Any] = {field.key: values.get(field.key) for field in shown}
    data.update(form.defaults)
    candidate, errors = _parsed(platform, entity, data)
    if _not_the_visitors(errors, shown):
        return _unavailable(platform, form, ip, errors)
    errors = [*input_errors, *errors]
    if errors:
        return _invalid(platform, form, ip, errors)
    with dedupe.matching(form.match_fields):
        existing = platform.pm.hook.find_duplicate(
            platform=platform, entity=entity, record=candidate, actor=owner, source=dedupe.SOURCE
        )
    if existing is not None:
        dedupe.attach_to_existing(platform, entity, int(existing), candidate, shown, form.name,
                                  form.owner_id, ip)  # fmt: skip
        log_outcome(platform, form.id, DUPLICATE, ip, record_id=int(existing))
        return Outcome(DUPLICATE, record_id=int(existing))
    reason = Message("Web form '{form}'", form=form.name).render(DEFAULT_LOCALE)
    try:
        created = platform.records.create(owner, entity.name, data, reason=reason)
    except ValidationFailed as failed:
        if _not_the_visitors(failed.errors, shown):
            return _unavailable(platform, form, ip, failed.errors)
        # "already used by another record" would tell an anonymous visitor which mobiles and
        # e-mails the CRM holds: a unique clash is handled as a duplicate, never shown.
        visible = [e for e in failed.errors if e.code != "unique"]
        if visible:
            return _invalid(platform, form, ip, visible)
        log_outcome(platform, form.id, DUPLICATE, ip, codes=[{"field": e.field, "code": e.code}
                                                              for e in failed.errors])  # fmt: skip
        return Outcome(DUPLICATE)
    except GuanxiError as error:  # the owner lost a permission, say: nothing the visitor can fix
        log.warning("web form %s could not create a record: %s", form.id, error)
        log_outcome(platform, form.id, INVALID, ip, codes=[{"field": None, "code": error.code}])
        return Outcome(UNAVAILABLE)
    record_id = int(created["id"])
    title = str(created.get(entity.title_field) or created.get("number") or f"#{record_id}")
    with platform.db.unit_of_work() as connection:
        log_outcome(platform, form.id, CREATED, ip, record_id=record_id, connection=connection)
        notifications.notify(
            connection,
            form.owner_id,
            dedupe.NOTIFICATION_KIND,
            Message(
                "Web form '{form}': new {entity} {title}",
                form=form.name,
                entity=entity.label,
                title=title,
            ).all_locales(),  # fmt: skip
            link=f"/r/{entity.name}/{record_id}",
            source=(entity.name, record_id),
        )
    return Outcome(CREATED, record_id=record_id)


def _parsed(
    platform: Any, entity: EntityDef, data: Mapping[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
    """Each value parsed by its field type, as it would be stored (the duplicate rules compare
    these), and the errors a person can fix before anything is looked up: bad formats and
    missing required fields. The record service checks everything again."""
    candidate: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, value in data.items():
        field = entity.get_field(key)
        if field is None:
            continue  # the record service names it
        try:
            candidate[key] = platform.types.for_field(field).parse(value, field)
        except FieldValueError as error:
            errors.append(FieldError(key, error.code, error.message))
    complete = dict(candidate)
    for field in entity.input_fields:
        if field.key not in complete and field.default is not None:
            complete[field.key] = field.default
    missing = platform.validators.for_entity(entity).required_errors(complete)
    failed = {error.field for error in errors}
    return candidate, errors + [e for e in missing if e.field not in failed]


def _not_the_visitors(errors: Iterable[FieldError], shown: Iterable[FieldDef]) -> bool:
    """Errors only an admin can fix: a fixed value or the owner's rights changed since the
    form was saved. The visitor is told the form is unavailable rather than shown them."""
    keys = {field.key for field in shown}
    return any(
        error.code in CONFIG_CODES or (error.field is not None and error.field not in keys)
        for error in errors
    )


def _unavailable(
    platform: Any, form: WebForm, ip: str | None, errors: Iterable[FieldError]
) -> Outcome:
    errors = tuple(errors)
    log.warning("web form %s no longer fits its module or its owner's rights: %s", form.id,
                "; ".join(f"{e.field}: {e.code}" for e in errors))  # fmt: skip
    _invalid(platform, form, ip, errors)
    return Outcome(UNAVAILABLE)


def _invalid(platform: Any, form: WebForm, ip: str | None, errors: Iterable[FieldError]) -> Outcome:
    errors = tuple(errors)
    log_outcome(platform, form.id, INVALID, ip,
                codes=[{"field": e.field, "code": e.code} for e in errors])  # fmt: skip
    return Outcome(INVALID, errors=errors)


def log_outcome(
    platform: Any,
    form_id: int,
    outcome: str,
    ip: str | None,
    *,
    record_id: int | None = None,
    codes: list[dict[str, Any]] | None = None,
    connection: Connection | None = None,
) -> None:
    """One row of the submission log (it also feeds the per-IP rate limit)."""
    row = {
        "form_id": form_id,
        "at": clock.now_utc(),
        "ip": (ip or "")[:45] or None,
        "outcome": outcome,
        "record_id": record_id,
        "errors": codes or None,
    }
    if connection is not None:
        connection.execute(sa.insert(web_form_submission).values(**row))
        return
    with platform.db.unit_of_work() as own:
        own.execute(sa.insert(web_form_submission).values(**row))
