"""Human-readable record numbers (C000123, L2026-000045), allocated atomically in the write
transaction: the counter row is locked until commit, so concurrent creates never share one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
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
    .values(value=sequence.c.value + sa.bindparam("step"))
    .returning(sequence.c.value)
)
_GIVE_BACK = (
    sa.update(sequence)
    .where(sequence.c.name == sa.bindparam("seq_name"), sequence.c.value == sa.bindparam("last"))
    .values(value=sequence.c.value - sa.bindparam("unused"))
)
_BLOCK = "guanxi.number_block"  # connection.info: (transaction, counter name, Block)


def _increment(connection: Connection, name: str, step: int) -> int:
    params = {"seq_name": name, "step": step}
    value = connection.execute(_INCREMENT, params).scalar()
    if value is None:
        connection.execute(_ENSURE[connection.dialect.name], {"seq_name": name})
        value = connection.execute(_INCREMENT, params).scalar_one()
    return int(value)


def next_value(connection: Connection, name: str) -> int:
    """Increment the named counter; the row lock (PostgreSQL) or write lock (SQLite) is held to
    commit, so two transactions can never read the same value. Inside `block`, the value comes
    from the values reserved for this transaction."""
    found = connection.info.get(_BLOCK)
    if found is not None and found[0] is connection.get_transaction() and found[1] == name:
        value = found[2].take()
        if value is not None:
            return value
    return _increment(connection, name, 1)


class Block:
    """Values of one counter reserved for a transaction: `next` is handed out next."""

    def __init__(self, first: int, last: int) -> None:
        self.next, self.last = first, last

    def take(self) -> int | None:
        if self.next > self.last:
            return None
        self.next += 1
        return self.next - 1

    def position(self) -> int:
        return self.next

    def rewind(self, position: int) -> None:
        """Hand the values from `position` out again (their rows were rolled back)."""
        self.next = position

    @property
    def unused(self) -> int:
        return self.last - self.next + 1


@contextmanager
def block(connection: Connection, name: str, count: int) -> Iterator[Block | None]:
    """Reserve `count` values of a counter with one statement for the writes of the block (an
    import chunk); the values left unused go back at the end, so numbers keep no gaps. Call it
    outside any savepoint: a savepoint rolled back must not undo the reservation."""
    if count <= 1:
        yield None
        return
    transaction = connection.get_transaction()
    last = _increment(connection, name, count)
    reserved = Block(last - count + 1, last)
    connection.info[_BLOCK] = (transaction, name, reserved)
    try:
        yield reserved
    finally:
        connection.info.pop(_BLOCK, None)
    still_open = transaction is not None and transaction.is_active
    if reserved.unused and still_open and connection.get_transaction() is transaction:
        params = {"seq_name": name, "last": last, "unused": reserved.unused}
        connection.execute(_GIVE_BACK, params)


def allocate(
    connection: Connection, entity: str, field: str, number_format: str, local_now: datetime
) -> str:
    """The next number of the entity's field, e.g. C000124."""
    seq = next_value(connection, sequence_name(entity, field, number_format, local_now))
    return number_format.format(
        seq=seq,
        yyyy=f"{local_now:%Y}",
        yy=f"{local_now:%y}",
        mm=f"{local_now:%m}",
        dd=f"{local_now:%d}",
    )
