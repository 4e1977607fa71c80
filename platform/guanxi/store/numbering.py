"""Human-readable record numbers (C000123, L2026-000045), allocated atomically in the write
transaction: the counter row is locked until commit, so concurrent creates never share one."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from guanxi.store.system_tables import sequence

_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
ALLOWED_PLACEHOLDERS = frozenset({"seq", "yyyy", "yy", "mm", "dd"})


def check_format(number_format: str) -> list[str]:
    """Problems with a number format, e.g. a missing {seq}; empty when it is fine."""
    if not isinstance(number_format, str):
        return ["the format must be text"]
    names = set(_PLACEHOLDER.findall(number_format))
    problems = [f"unknown placeholder {{{name}}}" for name in sorted(names - ALLOWED_PLACEHOLDERS)]
    if "seq" not in names:
        problems.append("the format needs {seq}")
    if problems:
        return problems
    try:  # the largest number a format must still hold
        sample = number_format.format(seq=10**9, yyyy="2026", yy="26", mm="12", dd="31")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        return [f"the format cannot be applied: {error}"]
    if len(sample) > 40:
        problems.append("a number may have at most 40 characters")
    return problems


def sequence_name(entity: str, field: str, number_format: str, local_now: datetime) -> str:
    """Counters restart per period when the format shows one: {yyyy} yearly, {mm} monthly."""
    names = set(_PLACEHOLDER.findall(number_format))
    period = ""
    if "yyyy" in names or "yy" in names:
        period = f"{local_now:%Y}"
        if "mm" in names:
            period += f"{local_now:%m}"
            if "dd" in names:
                period += f"{local_now:%d}"
    return f"{entity}.{field}:{period}" if period else f"{entity}.{field}"


_ENSURE = {
    dialect: module.insert(sequence)
    .values(name=sa.bindparam("seq_name"), value=0)
    .on_conflict_do_nothing(index_elements=["name"])
    for dialect, module in (("postgresql", postgresql), ("sqlite", sqlite))
}
_INCREMENT = (
    sa.update(sequence)
    .where(sequence.c.name == sa.bindparam("seq_name"))
    .values(value=sequence.c.value + 1)
    .returning(sequence.c.value)
)


def next_value(connection: Connection, name: str) -> int:
    """Increment the named counter; the row lock (PostgreSQL) or write lock (SQLite) is held to
    commit, so two transactions can never read the same value."""
    value = connection.execute(_INCREMENT, {"seq_name": name}).scalar()
    if value is None:
        connection.execute(_ENSURE[connection.dialect.name], {"seq_name": name})
        value = connection.execute(_INCREMENT, {"seq_name": name}).scalar_one()
    return int(value)


def allocate(
    connection: Connection, entity: str, field: str, number_format: str, local_now: datetime
) -> str:
    seq = next_value(connection, sequence_name(entity, field, number_format, local_now))
    return number_format.format(
        seq=seq,
        yyyy=f"{local_now:%Y}",
        yy=f"{local_now:%y}",
        mm=f"{local_now:%m}",
        dd=f"{local_now:%d}",
    )
