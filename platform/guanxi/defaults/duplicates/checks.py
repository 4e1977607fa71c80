"""Duplicate checks on create and update (DATA-07): warn (the user may confirm), block, or
"first entered owns" (the existing owner is named; the new user may ask them to share)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.defaults.duplicates.rules import Rule, RuleBook
from guanxi.errors import FieldError, GuanxiError
from guanxi.i18n import Message, _

if TYPE_CHECKING:
    from guanxi.core import Guanxi

_MERGING: ContextVar[frozenset[tuple[str, int]]] = ContextVar(
    "guanxi_dup_merging", default=frozenset()
)


@contextmanager
def merging(records: Iterable[tuple[str, int]]) -> Iterator[None]:
    """While records merge (DATA-08) they are not each other's duplicates: the survivor
    takes their values before the deletions commit."""
    token = _MERGING.set(frozenset(records))
    try:
        yield
    finally:
        _MERGING.reset(token)


def _message(action: str, **values: Any) -> Message:
    if action == "warn":
        return _("Possible duplicate ({rule}): {entity} {record}, owner {owner}", **values)
    if action == "block":
        return _("Duplicate ({rule}): {entity} {record} already exists, owner {owner}", **values)
    return _("{owner} entered this first ({rule}: {entity} {record}); ask them to share it",
             **values)  # fmt: skip


def _describe(platform: Guanxi, actor: Actor, entity: str, record_id: int) -> dict[str, Any]:
    """What the user is shown of a matched record: its number and owner always (the rule's
    point), its title only when they may see the record."""
    system = Actor.system()
    found = platform.records.get(system, entity, record_id, log_view=False)
    definition = platform.registry.snapshot().entity(entity)
    owner_name = ""
    if found.get("owner_id"):
        with platform.db.read() as connection:
            owner = identity.load_actor(connection, int(found["owner_id"]))
        owner_name = (owner.display_name or owner.username) if owner else ""
    title = ""
    try:
        visible = platform.records.get(actor, entity, record_id, log_view=False)
        title = str(visible.get(definition.title_field) or "")
    except GuanxiError:
        pass
    return {
        "entity": entity,
        "entity_label": dict(definition.label),
        "id": record_id,
        "number": found.get("number"),
        "title": title,
        "owner_id": found.get("owner_id"),
        "owner": owner_name,
        "href": f"/r/{entity}/{record_id}",
    }


def duplicate_errors(
    platform: Guanxi,
    book: RuleBook,
    entity: Any,
    record: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    actor: Actor,
) -> list[FieldError]:
    errors: list[FieldError] = []
    rules = book.covering(entity.name)
    if not rules:
        return errors
    found: list[tuple[Rule, list[tuple[str, int]]]] = []
    unanswered: list[Rule] = []
    exclude = old["id"] if old else None
    for rule in rules:
        fields = rule.fields_for(entity.name) or ()
        if old is not None and all(record.get(k) == old.get(k) for k in fields):
            continue  # an edit of other fields is never blocked by an old duplicate
        matched = book.prefetched_matches(rule, entity.name, record, exclude)
        if matched is None:
            unanswered.append(rule)
        elif matched:
            found.append((rule, matched))
    if unanswered:
        with platform.db.read() as connection:
            for rule in unanswered:
                matched = book.matches(connection, rule, entity.name, record, exclude)
                if matched:
                    found.append((rule, matched))
    if _MERGING.get():
        left = [(rule, [m for m in matched if m not in _MERGING.get()]) for rule, matched in found]
        found = [(rule, matched) for rule, matched in left if matched]
    for rule, matched in found:
        details = tuple(_describe(platform, actor, e, i) for e, i in matched)
        first = details[0]
        message = _message(
            rule.action,
            rule=rule.name,
            entity=first["entity_label"],
            record=first["title"] or first["number"] or f"#{first['id']}",
            owner=first["owner"] or "-",
        )
        fields = rule.fields_for(entity.name) or (None,)
        errors.append(
            FieldError(
                fields[0],
                "duplicate_warning" if rule.action == "warn" else "duplicate",
                message,
                warning=rule.action == "warn",
                details=tuple({**d, "rule": rule.id, "action": rule.action} for d in details),
            )
        )
    return errors


def find_existing(
    platform: Guanxi, book: RuleBook, entity: Any, record: Mapping[str, Any]
) -> int | None:
    """For web forms and imports: the first record of the same entity a rule matches."""
    rules = book.covering(entity.name)
    unanswered = []
    for rule in rules:
        matched = book.prefetched_matches(rule, entity.name, record, None)
        if matched is None:
            unanswered.append(rule)
            continue
        for matched_entity, record_id in matched:
            if matched_entity == entity.name:
                return record_id
    if not unanswered:
        return None
    with platform.db.read() as connection:
        for rule in unanswered:
            for matched_entity, record_id in book.matches(
                connection, rule, entity.name, record, None
            ):
                if matched_entity == entity.name:
                    return record_id
    return None
