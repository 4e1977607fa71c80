"""Saved list views (UI-02): a named list state, personal or shared with everyone who may view
the module.

Rules, checked here for every caller:
- anyone who may view a module keeps personal views of it; only the owner sees them (another
  user asking for one gets "not found", so ids reveal nothing);
- sharing a view puts it in front of every user of the module, so it needs the same trust as
  handing records to others: the module's "assign" action, or being an administrator;
- the owner renames and deletes their views; an administrator may also rename or delete a
  shared one (someone has to tidy up after people leave).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor
from guanxi.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from guanxi.i18n import _
from guanxi.store.system_tables import saved_view

MAX_NAME = 100
STATE_KEYS = ("q", "filter", "sort", "columns", "n")


@dataclass(frozen=True)
class SavedView:
    id: int
    entity: str
    name: str
    owner_id: int
    shared: bool
    state: dict[str, Any]

    def editable_by(self, actor: Actor, is_admin: bool) -> bool:
        return self.owner_id == actor.user_id or (self.shared and is_admin)


def _row(row: Any) -> SavedView:
    return SavedView(
        row.id, row.entity, row.name, row.owner_id, bool(row.shared), dict(row.state or {})
    )


def _access(platform: Any, actor: Actor, entity: str) -> Any:
    """The module gate: views of a module the actor may not open do not exist for them."""
    access = platform.records.access(actor)
    platform.registry.snapshot().entity(entity)  # unknown module: NotFound
    if not access.allows(entity, "view"):
        raise PermissionDenied(_("You may not view this module"))
    return access


def may_share(platform: Any, actor: Actor, entity: str) -> bool:
    access = platform.records.access(actor)
    return bool(access.is_admin or access.allows(entity, "assign"))


def list_views(platform: Any, actor: Actor, entity: str) -> list[SavedView]:
    """The actor's own views and every shared one, shared first, then by name."""
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(saved_view)
            .where(
                saved_view.c.entity == entity,
                sa.or_(saved_view.c.owner_id == actor.user_id, saved_view.c.shared),
            )
            .order_by(saved_view.c.shared.desc(), saved_view.c.name, saved_view.c.id)
        )
        return [_row(row) for row in rows]


def get_view(platform: Any, actor: Actor, entity: str, view_id: int) -> SavedView:
    """A view the actor may apply: their own, or a shared one of this module."""
    _access(platform, actor, entity)
    found = _load(platform, view_id)
    if (
        found is None
        or found.entity != entity
        or not (found.shared or found.owner_id == actor.user_id)
    ):
        raise NotFound(_("This saved view does not exist"))
    return found


def save_view(
    platform: Any, actor: Actor, entity: str, name: str, state: dict[str, Any], *, shared: bool
) -> SavedView:
    access = _access(platform, actor, entity)
    name = _checked_name(name)
    if shared and not (access.is_admin or access.allows(entity, "assign")):
        raise PermissionDenied(
            _("Only administrators and those who may assign records share views")
        )
    now = clock.now_utc()
    clean = {key: state.get(key) for key in STATE_KEYS if key in state}
    with platform.db.unit_of_work() as connection:
        view_id = connection.execute(
            sa.insert(saved_view)
            .values(entity=entity, name=name, owner_id=actor.user_id, shared=shared,
                    state=clean, created_at=now, updated_at=now)
            .returning(saved_view.c.id)
        ).scalar_one()  # fmt: skip
    return SavedView(int(view_id), entity, name, int(actor.user_id or 0), shared, clean)


def rename_view(platform: Any, actor: Actor, entity: str, view_id: int, name: str) -> SavedView:
    found = _editable(platform, actor, entity, view_id)
    name = _checked_name(name)
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(saved_view)
            .where(saved_view.c.id == found.id)
            .values(name=name, updated_at=clock.now_utc())
        )
    return SavedView(found.id, found.entity, name, found.owner_id, found.shared, found.state)


def delete_view(platform: Any, actor: Actor, entity: str, view_id: int) -> None:
    found = _editable(platform, actor, entity, view_id)
    with platform.db.unit_of_work() as connection:
        connection.execute(sa.delete(saved_view).where(saved_view.c.id == found.id))


def _editable(platform: Any, actor: Actor, entity: str, view_id: int) -> SavedView:
    found = get_view(platform, actor, entity, view_id)
    if not found.editable_by(actor, platform.records.access(actor).is_admin):
        raise PermissionDenied(_("Only the owner or an administrator may change this view"))
    return found


def _load(platform: Any, view_id: int) -> SavedView | None:
    with platform.db.read() as connection:
        row = connection.execute(sa.select(saved_view).where(saved_view.c.id == view_id)).first()
    return _row(row) if row is not None else None


def _checked_name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValidationFailed([FieldError("name", "required", _("Give the view a name"))])
    if len(name) > MAX_NAME:
        raise ValidationFailed(
            [FieldError("name", "too_long", _("At most {limit} characters", limit=MAX_NAME))]
        )
    return name
