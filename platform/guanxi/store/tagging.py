"""Tag links: reading a page's tags in one query and replacing one record's tags."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi.store.system_tables import tag, tag_link


def tags_column(entity: str, record_id: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    """A correlated "a|b|c" of a record's tag codes (group_concat / string_agg)."""
    return (
        sa.select(sa.func.aggregate_strings(tag.c.code, "|"))
        .select_from(tag_link.join(tag, tag.c.id == tag_link.c.tag_id))
        .where(tag_link.c.entity == entity, tag_link.c.record_id == record_id)
        .scalar_subquery()
    )


def tags_for(
    connection: Connection, entity: str, record_ids: Iterable[int]
) -> dict[int, list[str]]:
    ids = list(record_ids)
    found: dict[int, list[str]] = {record_id: [] for record_id in ids}
    if not ids:
        return found
    rows = connection.execute(
        sa.select(tag_link.c.record_id, tag.c.code)
        .join(tag, tag.c.id == tag_link.c.tag_id)
        .where(tag_link.c.entity == entity, tag_link.c.record_id.in_(ids))
        .order_by(tag.c.position, tag.c.code)
    )
    for record_id, code in rows:
        found[record_id].append(code)
    return found


def tag_ids(connection: Connection, entity: str, codes: Iterable[str]) -> dict[str, int]:
    wanted = list(codes)
    if not wanted:
        return {}
    rows = connection.execute(
        sa.select(tag.c.code, tag.c.id).where(tag.c.entity == entity, tag.c.code.in_(wanted))
    )
    return {code: tag_id for code, tag_id in rows}


def replace_tags(connection: Connection, entity: str, record_id: int, ids: Iterable[int]) -> None:
    connection.execute(
        sa.delete(tag_link).where(tag_link.c.entity == entity, tag_link.c.record_id == record_id)
    )
    rows = [{"entity": entity, "record_id": record_id, "tag_id": tag_id} for tag_id in ids]
    if rows:
        connection.execute(sa.insert(tag_link), rows)
