"""What a webhook endpoint may be (API-03): a name, a safe URL, a module, events it has, and
an owner who may view the module (payloads are read as them). Every problem is collected and
reported by field, so the form shows them all at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from guanxi.auth.identity import load_actor
from guanxi.auth.version import versions
from guanxi.defaults.webhooks import targets
from guanxi.errors import FieldError, ValidationFailed
from guanxi.i18n import _

if TYPE_CHECKING:
    from guanxi.core import Guanxi

EVENTS = ("created", "updated", "deleted", "stage_changed")
NAME_MAX = 100


def validated(
    platform: Guanxi, values: Mapping[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The values to store, or ValidationFailed listing every problem by field."""
    errors: list[FieldError] = []
    name = str(values.get("name") or "").strip()
    if not name:
        errors.append(FieldError("name", "required", _("A name is required")))
    elif len(name) > NAME_MAX:
        errors.append(
            FieldError(
                "name", "too_long", _("The name may be at most {max} characters", max=NAME_MAX)
            )
        )
    url = str(values.get("url") or "").strip()
    unchanged_url = current is not None and url == current.get("url")
    try:
        if unchanged_url:
            targets.check_syntax(url)
        else:
            targets.check(url, allow_private=platform.settings.webhook_allow_private)
    except targets.TargetRefused as refused:
        errors.append(refused.error)
    entity_name = str(values.get("entity") or "").strip()
    events = _event_list(values.get("events"), errors)
    snapshot = platform.registry.snapshot()
    entity = snapshot.entities.get(entity_name)
    if entity is None:
        errors.append(
            FieldError(
                "entity",
                "unknown_entity" if entity_name else "required",
                _("Unknown module '{name}'", name=entity_name)
                if entity_name
                else _("Choose a module"),
            )
        )
    elif "stage_changed" in events and not entity.pipelines:
        errors.append(
            FieldError(
                "events",
                "no_stages",
                _("{entity} has no stage field; choose another event", entity=entity.label),
            )
        )
    owner_id = _owner(platform, values.get("owner_id"), entity_name if entity else None, errors)
    if errors:
        raise ValidationFailed(errors)
    return {
        "name": name,
        "url": url,
        "entity": entity_name,
        "events": events,
        "owner_id": owner_id,
        "active": bool(values.get("active", True)),
    }


def _owner(platform: Guanxi, raw: Any, entity: str | None, errors: list[FieldError]) -> int | None:
    """The owner's id: an active user who may view the module (payloads are read as them)."""
    if raw in (None, ""):
        errors.append(
            FieldError("owner_id", "required", _("Choose the user whose permissions apply"))
        )
        return None
    try:
        owner_id = int(raw)
    except (TypeError, ValueError):
        errors.append(FieldError("owner_id", "bad_choice", _("Not a valid choice")))
        return None
    with platform.db.read() as connection:
        owner = load_actor(connection, owner_id)
        if owner is None:
            errors.append(FieldError("owner_id", "unknown_user", _("No such active user")))
            return None
        access = platform.authorizer.access(connection, owner, versions(connection)[1])
    if entity and not access.allows(entity, "view"):
        errors.append(
            FieldError(
                "owner_id",
                "cannot_view",
                _(
                    "{user} may not view this module, so no event would be sent",
                    user=owner.name,
                ),
            )
        )
    return owner_id


def _event_list(raw: Any, errors: list[FieldError]) -> list[str]:
    chosen = [raw] if isinstance(raw, str) else list(raw or [])
    unknown = [str(e) for e in chosen if e not in EVENTS]
    if unknown:
        errors.append(
            FieldError("events", "bad_event", _("Unknown event '{name}'", name=unknown[0]))
        )
    events = [e for e in EVENTS if e in chosen]
    if not events and not unknown:
        errors.append(FieldError("events", "required", _("Choose at least one event")))
    return events
