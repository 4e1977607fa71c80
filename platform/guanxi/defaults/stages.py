"""Stage pipelines (CORE-06): allowed transitions, fields required to enter a stage, reasons,
and the stage history that measures time spent in each stage."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.errors import FieldError
from guanxi.events import RecordEvent
from guanxi.hookspecs import hookimpl
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.store import grouped
from guanxi.store.system_tables import stage_history


@hookimpl
def validate_record(
    entity: EntityDef,
    record: dict[str, Any],
    old: dict[str, Any] | None,
    actor: Actor,
    op: str,
    reason: str | None,
) -> list[FieldError]:
    errors: list[FieldError] = []
    if op == "restore":  # out of the recycle bin at the stage it had: no transition
        return errors
    for key, pipeline in entity.pipelines.items():
        target = record.get(key)
        previous = old.get(key) if old else None
        if target is None or target == previous or target not in pipeline.by_code:
            continue
        stage = pipeline.by_code[target]
        if not pipeline.allows(previous, target):
            errors.append(
                FieldError(
                    key,
                    "transition",
                    _(
                        "Cannot move from {source} to {target}",
                        source=pipeline.by_code[previous].label
                        if previous in pipeline.by_code
                        else str(previous),
                        target=stage.label,
                    ),
                )
            )
            continue
        missing = [f for f in stage.required_fields if _unmet(record.get(f))]
        if missing:
            names = [entity.field(f).label if entity.get_field(f) else f for f in missing]
            errors.append(
                FieldError(
                    key,
                    "stage_requirements",
                    _("To enter {stage}, fill in: {fields}", stage=stage.label, fields=names),
                )
            )
            errors.extend(
                FieldError(
                    f, "required_for_stage", _("Required to enter {stage}", stage=stage.label)
                )
                for f in missing
            )
        needs_reason = old is not None and (pipeline.reason_required or stage.reason_required)
        if needs_reason and not (reason and reason.strip()):
            errors.append(
                FieldError(
                    key,
                    "reason_required",
                    _("Give a reason for moving to {stage}", stage=stage.label),
                )
            )
    return errors


def _unmet(value: Any) -> bool:
    """Empty, or an unticked yes/no: "budget confirmed" required to enter a stage means ticked."""
    return value is None or value is False or (isinstance(value, str | list) and not value)


_CLOSE = (
    sa.update(stage_history)
    .where(
        stage_history.c.entity == sa.bindparam("e"),
        stage_history.c.record_id == sa.bindparam("r"),
        stage_history.c.field == sa.bindparam("f"),
        stage_history.c.left_at.is_(None),
    )
    .values(left_at=sa.bindparam("at"))
)


@hookimpl
def record_stored(connection: Any, entity: EntityDef, event: RecordEvent) -> None:
    if event.op not in ("create", "update") or event.record is None:
        return
    for key in entity.pipelines:
        old_stage = event.old.get(key) if event.old else None
        new_stage = event.record.get(key)
        if new_stage == old_stage:
            continue
        if old_stage is not None:
            connection.execute(
                _CLOSE, {"e": event.entity, "r": event.record_id, "f": key, "at": event.at}
            )
        if new_stage is not None:
            grouped.insert(
                connection,
                stage_history,
                {
                    "entity": event.entity,
                    "record_id": event.record_id,
                    "field": key,
                    "from_stage": old_stage,
                    "to_stage": new_stage,
                    "entered_at": event.at,
                    "left_at": None,
                    "actor_id": event.actor.user_id,
                    "reason": event.reason,
                },
            )
