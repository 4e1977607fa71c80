"""Workbooks an import hands out: the error workbook (every failed row as it was uploaded,
the failing cells marked, the reasons in an extra column) and the template of an entity.
Both are written with openpyxl's write-only mode, so memory stays flat at any size."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from guanxi.i18n import pick_label
from guanxi.imports.mapping import REQUIRED_MARK
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.store.system_tables import import_issue

ERRORS_HEADER = "错误 / Errors"
ROW_HEADER = "行号 / Row"
READ_BATCH = 1000
ERROR_FILL = "FFFDECEA"
HEADER_FILL = "FFE8EEF7"


def _openpyxl() -> Any:
    import openpyxl

    return openpyxl


# -- the error workbook -------------------------------------------------------------------------


def failed_rows(platform: Any, import_id: int) -> Iterator[tuple[int, list[str], list[dict]]]:
    """(row number, original cells, messages) of every failed row, in file order, read in
    batches (a 100,000-row failure list never sits in memory at once)."""
    after = 0
    while True:
        with platform.db.read() as connection:
            batch = connection.execute(
                sa.select(
                    import_issue.c.id,
                    import_issue.c.row_no,
                    import_issue.c.raw,
                    import_issue.c.messages,
                )
                .where(
                    import_issue.c.import_id == import_id,
                    import_issue.c.outcome == "failed",
                    import_issue.c.row_no > after,
                )
                .order_by(import_issue.c.row_no)
                .limit(READ_BATCH)
            ).all()
        if not batch:
            return
        for row in batch:
            cells = json.loads(platform.cipher.open(row.raw)) if row.raw else []
            yield row.row_no, cells, list(row.messages or [])
        after = batch[-1].row_no


def write_error_workbook(
    platform: Any, import_id: int, header: Sequence[str], target: Path, locale: str
) -> int:
    """The failed rows with the original columns, each failing cell filled and commented, and
    "column: reason" per problem in the Errors column. Returns the number of rows written."""
    openpyxl = _openpyxl()
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("错误 Errors")
    bold, marked = Font(bold=True), PatternFill("solid", fgColor=ERROR_FILL)
    title_fill = PatternFill("solid", fgColor=HEADER_FILL)
    heading = []
    for text in [*header, ERRORS_HEADER, ROW_HEADER]:
        cell = WriteOnlyCell(sheet, text)
        cell.font, cell.fill = bold, title_fill
        heading.append(cell)
    sheet.append(heading)
    position = {name: index for index, name in enumerate(header)}
    written = 0
    for row_no, cells, messages in failed_rows(platform, import_id):
        values: list[Any] = (list(cells) + [""] * len(header))[: len(header)]
        reasons: dict[int, list[str]] = {}
        lines = []
        for message in messages:
            text = pick_label(message.get("message") or {}, locale)
            column = message.get("column") or ""
            lines.append(f"{column}: {text}" if column else text)
            if column in position:
                reasons.setdefault(position[column], []).append(text)
        out: list[Any] = []
        for index, value in enumerate(values):
            if index in reasons:
                cell = WriteOnlyCell(sheet, value)
                cell.fill = marked
                cell.comment = Comment("\n".join(reasons[index]), "Guanxi")
                out.append(cell)
            else:
                out.append(value)
        sheet.append([*out, "\n".join(lines), row_no])
        written += 1
    workbook.save(target)
    return written


# -- templates ----------------------------------------------------------------------------------


def template_header(field: FieldDef) -> str:
    """ "客户名称 / Name*": both labels, so either language's header maps; "*" = required."""
    zh, en = field.label.get("zh-CN", ""), field.label.get("en", "")
    text = f"{zh} / {en}" if zh and en and zh != en else (zh or en or field.key)
    return text + (REQUIRED_MARK if field.required and field.default is None else "")


_EXAMPLES = {
    "phone": "13812345678",
    "email": "name@example.com",
    "url": "https://www.example.com",
    "date": "2024-03-05",
    "datetime": "2024-03-05 14:30",
    "integer": "10",
    "decimal": "12.5",
    "money": "12000.00",
    "percent": "15",
    "rating": "4",
    "boolean": "是",
}


def example_value(field: FieldDef, locale: str = "zh-CN") -> str:
    """One plausible value per field type (the template's example row)."""
    if field.options:
        return pick_label(field.options[0].label, locale)
    if field.type in _EXAMPLES:
        return _EXAMPLES[field.type]
    if field.type in ("user", "department", "reference", "tags", "longtext"):
        return ""
    return f"示例{pick_label(field.label, locale)}"


def write_template_xlsx(entity: EntityDef, fields: Sequence[FieldDef], target: Any) -> None:
    """Sheet 1: the header row and one example row; sheet 2: the options of choice fields."""
    openpyxl = _openpyxl()
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(pick_label(entity.label, "zh-CN")[:31] or entity.name)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    heading = []
    for field in fields:
        cell = WriteOnlyCell(sheet, template_header(field))
        cell.font, cell.fill = bold, fill
        heading.append(cell)
    sheet.append(heading)
    example = []
    for field in fields:
        cell = WriteOnlyCell(sheet, example_value(field))
        cell.font = Font(italic=True, color="FF6B7280")
        example.append(cell)
    sheet.append(example)
    # Two columns per choice field: the zh-CN labels and the English ones (either imports).
    options = workbook.create_sheet("选项 Options")
    choice_fields = [f for f in fields if f.options]
    titles = []
    for field in choice_fields:
        for locale in ("zh-CN", "en"):
            cell = WriteOnlyCell(options, field.title(locale))
            cell.font, cell.fill = bold, fill
            titles.append(cell)
    options.append(titles or ["—"])
    longest = max((len(f.options) for f in choice_fields), default=0)
    for index in range(longest):
        line: list[str | None] = []
        for field in choice_fields:
            option = field.options[index] if index < len(field.options) else None
            if option is None:
                line += [None, None]
            else:
                line += [pick_label(option.label, "zh-CN"), pick_label(option.label, "en")]
        options.append(line)
    workbook.save(target)


def template_csv(fields: Sequence[FieldDef]) -> bytes:
    """The header row and the example row, UTF-8 with a BOM (Excel then reads the Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([template_header(f) for f in fields])
    writer.writerow([example_value(f) for f in fields])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
