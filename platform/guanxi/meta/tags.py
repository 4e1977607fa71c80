"""Tag groups and tags (CORE-07): rows, not schema — adding one changes no table."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from guanxi.errors import MetadataError
from guanxi.i18n import _
from guanxi.store.db import Database
from guanxi.store.system_tables import tag, tag_group, tag_link

GROUP_KINDS = ("attribute", "behaviour")


def add_group(
    db: Database, entity: str, code: str, label: dict[str, str], kind: str, exclusive: bool
) -> int:
    if kind not in GROUP_KINDS:
        raise MetadataError(_("A tag group is for attributes or behaviour"), field="kind")
    with db.unit_of_work() as connection:
        if _group_id(connection, entity, code) is not None:
            raise MetadataError(
                _("Tag group '{code}' already exists", code=code), field="code", code="exists"
            )
        return int(
            connection.execute(
                sa.insert(tag_group)
                .values(entity=entity, code=code, label=label, kind=kind, exclusive=exclusive)
                .returning(tag_group.c.id)
            ).scalar_one()
        )


def add_tag(
    db: Database, entity: str, group_code: str, code: str, label: dict[str, str], color: str | None
) -> int:
    with db.unit_of_work() as connection:
        group_id = _group_id(connection, entity, group_code)
        if group_id is None:
            raise MetadataError(_("Unknown tag group '{code}'", code=group_code), field="group")
        exists = connection.execute(
            sa.select(tag.c.id).where(tag.c.entity == entity, tag.c.code == code)
        ).first()
        if exists:
            raise MetadataError(
                _("Tag '{code}' already exists", code=code), field="code", code="exists"
            )
        return int(
            connection.execute(
                sa.insert(tag)
                .values(entity=entity, group_id=group_id, code=code, label=label, color=color)
                .returning(tag.c.id)
            ).scalar_one()
        )


def list_tags(db: Database, entity: str) -> list[dict[str, Any]]:
    with db.read() as connection:
        rows = connection.execute(
            sa.select(
                tag.c.code,
                tag.c.label,
                tag.c.color,
                tag_group.c.code.label("group"),
                tag_group.c.kind,
            )
            .join(tag_group, tag_group.c.id == tag.c.group_id)
            .where(tag.c.entity == entity)
            .order_by(tag_group.c.position, tag.c.position, tag.c.code)
        )
        return [dict(row._mapping) for row in rows]


def _group_id(connection: Any, entity: str, code: str) -> int | None:
    return connection.execute(
        sa.select(tag_group.c.id).where(tag_group.c.entity == entity, tag_group.c.code == code)
    ).scalar()


def list_groups(db: Database, entity: str) -> list[dict[str, Any]]:
    with db.read() as connection:
        rows = connection.execute(
            sa.select(tag_group.c.code, tag_group.c.label, tag_group.c.kind, tag_group.c.exclusive)
            .where(tag_group.c.entity == entity)
            .order_by(tag_group.c.position, tag_group.c.code)
        )
        return [dict(row._mapping) for row in rows]


def change_tag(
    db: Database, entity: str, code: str, label: dict[str, str], color: str | None
) -> None:
    """Relabel or recolour a tag; records keep it (they link to the tag, not its text)."""
    with db.unit_of_work() as connection:
        changed = connection.execute(
            sa.update(tag)
            .where(tag.c.entity == entity, tag.c.code == code)
            .values(label=label, color=color)
        ).rowcount
    if not changed:
        raise MetadataError(_("Unknown tag '{code}'", code=code), field="code", code="unknown")


def remove_tag(db: Database, entity: str, code: str) -> int:
    """Delete a tag and take it off every record that has it; how many records had it."""
    with db.unit_of_work() as connection:
        tag_id = connection.execute(
            sa.select(tag.c.id).where(tag.c.entity == entity, tag.c.code == code)
        ).scalar()
        if tag_id is None:
            raise MetadataError(_("Unknown tag '{code}'", code=code), field="code", code="unknown")
        unlinked = connection.execute(
            sa.delete(tag_link).where(tag_link.c.entity == entity, tag_link.c.tag_id == tag_id)
        ).rowcount
        connection.execute(sa.delete(tag).where(tag.c.id == tag_id))
    return int(unlinked or 0)
