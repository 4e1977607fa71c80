"""A file row -> record input: each mapped cell parsed by its field's type (the same parsing
forms and the API use), references looked up by the record's number or exact title, owners
by user name or display name. Problems are collected per cell, naming the column."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.defaults.field_types.text import normalize_text
from guanxi.errors import GuanxiError
from guanxi.i18n import Message, _
from guanxi.imports.files import Row
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.meta.field_types import FieldValueError
from guanxi.store.system_tables import department, user

LOOKUP_BATCH = 200  # values per IN (...) query when resolving references
LOOKUP_TYPES = ("reference", "user", "department")


@dataclass(frozen=True)
class CellProblem:
    column: str  # the header, as the user knows the column
    field: str | None
    code: str
    message: Message

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "field": self.field,
            "code": self.code,
            "message": self.message.all_locales(),
        }


@dataclass
class Converted:
    row: Row
    data: dict[str, Any] = field(default_factory=dict)  # JSON input for the record service
    parsed: dict[str, Any] = field(default_factory=dict)  # stored values (duplicate checks)
    problems: list[CellProblem] = field(default_factory=list)


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    field: FieldDef


class RowConverter:
    """Converts rows for one import run; looked-up references are remembered for the run."""

    def __init__(
        self, platform: Any, actor: Actor, entity: EntityDef, columns: Sequence[Column]
    ) -> None:
        self.platform = platform
        self.actor = actor
        self.entity = entity
        self.columns = list(columns)
        self._found: dict[tuple[str, str], int | Message] = {}  # (field key, text) -> id | why not
        self._people: dict[str, dict[str, int | None]] | None = None

    def convert(self, rows: Iterable[Row]) -> list[Converted]:
        rows = list(rows)
        self._resolve(rows)
        return [self._convert_row(row) for row in rows]

    def _convert_row(self, row: Row) -> Converted:
        result = Converted(row)
        for column in self.columns:
            text = row.cells[column.index] if column.index < len(row.cells) else ""
            if not text:
                continue  # an empty cell sets nothing: defaults apply, updates keep the value
            field_def = column.field
            field_type = self.platform.types.for_field(field_def)
            value: Any = text
            if field_def.type in LOOKUP_TYPES:
                found = self._found.get((field_def.key, _lookup_text(text)))
                if isinstance(found, Message):
                    result.problems.append(
                        CellProblem(column.header, field_def.key, "reference", found)
                    )
                    continue
                value = found
            try:
                parsed = field_type.parse(value, field_def)
            except FieldValueError as error:
                result.problems.append(
                    CellProblem(column.header, field_def.key, error.code, error.message)
                )
                continue
            result.parsed[field_def.key] = parsed
            result.data[field_def.key] = field_type.to_json(parsed)
        if result.problems:
            result.problems += self._required_problems(row, result)
        return result

    def _required_problems(self, row: Row, result: Converted) -> list[CellProblem]:
        """A row refused for a bad cell never reaches validation: report its empty required
        cells too, so the error workbook lists everything to fix at once."""
        bad = {problem.field for problem in result.problems}
        return [
            CellProblem(
                column.header,
                column.field.key,
                "required",
                _("{field} is required", field=column.field.label),
            )
            for column in self.columns
            if column.field.required
            and column.field.default is None
            and column.field.key not in result.parsed
            and column.field.key not in bad
        ]

    # -- references ------------------------------------------------------------------------------

    def _resolve(self, rows: list[Row]) -> None:
        for column in self.columns:
            if column.field.type not in LOOKUP_TYPES:
                continue
            key = column.field.key
            wanted = {
                _lookup_text(row.cells[column.index])
                for row in rows
                if column.index < len(row.cells) and row.cells[column.index]
            }
            wanted = {text for text in wanted if (key, text) not in self._found}
            if not wanted:
                continue
            if column.field.type == "reference":
                self._found.update(self._records(column.field, sorted(wanted)))
            else:
                self._found.update(self._people_or_departments(column.field, wanted))

    def _records(self, field_def: FieldDef, texts: list[str]) -> dict[tuple[str, str], Any]:
        """Look values up as the importing user (their scope applies): the record's number
        first, else its exact title; a title two visible records share is refused."""
        snapshot = self.platform.registry.snapshot()
        target = snapshot.entities.get(field_def.reference or "")
        found: dict[tuple[str, str], Any] = {}
        if target is None:
            return {(field_def.key, t): _("The linked module does not exist") for t in texts}
        title_key = target.title_field if target.get_field(target.title_field) else None
        by_number = self._match(target, "number", texts)
        rest = [t for t in texts if t not in by_number]
        by_title = self._match(target, title_key, rest) if title_key and rest else {}
        for text in texts:
            ids = by_number.get(text) or by_title.get(text) or []
            if len(ids) == 1:
                found[(field_def.key, text)] = ids[0]
            elif ids:
                found[(field_def.key, text)] = _(
                    "More than one {entity} record is called '{value}': give its number",
                    entity=target.label,
                    value=text,
                )
            else:
                found[(field_def.key, text)] = _(
                    "No {entity} record with the number or name '{value}'",
                    entity=target.label,
                    value=text,
                )
        return found

    def _match(self, target: EntityDef, key: str | None, texts: list[str]) -> dict[str, list[int]]:
        matches: dict[str, list[int]] = {}
        if key is None:
            return matches
        for start in range(0, len(texts), LOOKUP_BATCH):
            batch = texts[start : start + LOOKUP_BATCH]
            try:
                page = self.platform.records.query(
                    self.actor,
                    target.name,
                    {"field": key, "op": "in", "value": batch},
                    limit=min(500, 2 * len(batch) + 1),
                )
            except GuanxiError:
                return matches  # a module the user may not read: nothing found
            for record in page.rows:
                value = record.get(key)
                if value is not None:
                    matches.setdefault(str(value), []).append(int(record["id"]))
        return matches

    def _people_or_departments(
        self, field_def: FieldDef, texts: set[str]
    ) -> dict[tuple[str, str], Any]:
        people = self._directory()
        names = people["user" if field_def.type == "user" else "department"]
        found: dict[tuple[str, str], Any] = {}
        for text in texts:
            match = names.get(text, 0)
            if match:
                found[(field_def.key, text)] = match
            elif match is None:
                found[(field_def.key, text)] = _(
                    "More than one user or department is called '{value}'", value=text
                )
            elif field_def.type == "user":
                found[(field_def.key, text)] = _("No active user called '{value}'", value=text)
            else:
                found[(field_def.key, text)] = _("No department called '{value}'", value=text)
        return found

    def _directory(self) -> dict[str, dict[str, int | None]]:
        """Active users by user name and display name, departments by name (None: taken twice)."""
        if self._people is not None:
            return self._people
        users: dict[str, int | None] = {}
        departments: dict[str, int | None] = {}
        with self.platform.db.read() as connection:
            rows = connection.execute(
                sa.select(user.c.id, user.c.username, user.c.display_name).where(user.c.active)
            ).all()
            shown: dict[str, set[int]] = {}
            for row in rows:
                users[_lookup_text(row.username)] = row.id
                shown.setdefault(_lookup_text(row.display_name or ""), set()).add(row.id)
            for name, ids in shown.items():
                if name and name not in users:  # a display name never shadows a user name
                    users[name] = next(iter(ids)) if len(ids) == 1 else None
            for row in connection.execute(sa.select(department.c.id, department.c.name)):
                name = _lookup_text(row.name)
                departments[name] = None if name in departments else row.id
        self._people = {"user": users, "department": departments}
        return self._people


def _lookup_text(text: str) -> str:
    return normalize_text(text)
