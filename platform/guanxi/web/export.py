"""Export of a list view (DATA-10, UI-03) as CSV or XLSX: the view's filter, search, sort and
columns, read page by page from records.export (module right "export", scoped, masked, one
access-log row with the row count) and formatted like the screen shows them (option labels,
user names, reference titles). XLSX cells are typed: numbers, exact money, dates, local times.

Memory stays flat at any size: CSV streams batch by batch; XLSX goes through openpyxl's
write-only workbook into a temporary file that is sent and then deleted."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from typing import Any
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth.fields import Level
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.web.display import Presenter
from guanxi.web.screen import Screen, screen

BOM = "\ufeff"  # Excel opens UTF-8 (Chinese) correctly only with it
BATCH = 500
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.00%"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
MAX_CELL_TEXT = 32_767  # Excel's limit per cell
MIN_WIDTH, MAX_WIDTH = 8, 50
TYPED_WIDTHS = {"date": 12, "datetime": 17, "money": 14, "percent": 10, "rating": 8}
NUMBER_WIDGETS = ("number", "money", "percent", "rating")


# -- CSV -----------------------------------------------------------------------------------------


def csv_response(
    platform: Any,
    actor: Actor,
    entity: EntityDef,
    locale: str,
    fields: list[FieldDef],
    filters: Any,
    sort: list[str],
    *,
    search: str | None = None,
) -> StreamingResponse:
    """The export as a streamed CSV download."""
    return StreamingResponse(
        csv_chunks(platform, actor, entity, locale, fields, filters, sort, search=search),
        media_type="text/csv; charset=utf-8",
        headers=download_headers(entity, locale, "csv"),
    )


def csv_chunks(
    platform: Any,
    actor: Actor,
    entity: EntityDef,
    locale: str,
    fields: list[FieldDef],
    filters: Any,
    sort: list[str],
    *,
    search: str | None = None,
) -> Iterator[str]:
    """The CSV text batch by batch. The export starts now (so a refused export or a bad filter
    is an error page, not a broken download); the rest is read as the text is consumed."""
    records = start_export(platform, actor, entity, filters, sort, search=search)
    presenter = Presenter(
        platform, actor, entity, locale, platform.records.access(actor).mask(entity)
    )
    return _lines(presenter, fields, records, locale)


def _lines(
    presenter: Presenter, fields: list[FieldDef], records: Iterator[dict[str, Any]], locale: str
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([field.title(locale) for field in fields])
    yield BOM + _drain(buffer)
    while True:
        batch = list(islice(records, BATCH))
        if not batch:
            break
        presenter.load(batch, fields)  # one read per referenced module per batch
        for record in batch:
            writer.writerow([_safe_cell(presenter.text(field, record)) for field in fields])
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _safe_cell(text: str) -> str:
    """Spreadsheet formula injection: a cell starting with = + - @ is read as a formula."""
    if text and text[0] in "=+-@\t\r" and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


# -- shared --------------------------------------------------------------------------------------


def start_export(
    platform: Any,
    actor: Actor,
    entity: EntityDef,
    filters: Any,
    sort: list[str],
    *,
    search: str | None = None,
) -> Iterator[dict[str, Any]]:
    """records.export with its first page already read: that runs the permission check and
    the filter parsing, so their errors come before any byte of the file."""
    rows = platform.records.export(
        actor, entity.name, filters, sort=sort or None, batch=BATCH, search=search
    )
    first = next(rows, None)
    return _rest(first, rows) if first is not None else iter(())


def _rest(first: dict[str, Any], rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The rows, first one included; closing this closes the export (which logs its count)."""
    try:
        yield first
        yield from rows
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def download_headers(entity: EntityDef, locale: str, extension: str) -> dict[str, str]:
    """An attachment named after the module in the user's language (RFC 5987 filename*), with
    an ASCII name for old clients; never cached, since it holds customer data."""
    day = f"{clock.today_local():%Y%m%d}"
    plain = f"{entity.name}-{day}.{extension}"
    named = f"{entity.title(locale)}-{day}.{extension}"
    return {
        "Content-Disposition": (
            f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(named, safe='')}"
        ),
        "Cache-Control": "no-store",
    }


# -- XLSX ----------------------------------------------------------------------------------------


def xlsx_response(
    platform: Any,
    actor: Actor,
    entity: EntityDef,
    locale: str,
    fields: list[FieldDef],
    filters: Any,
    sort: list[str],
    *,
    search: str | None = None,
) -> Response:
    """The export written to a temporary workbook, then sent and deleted."""
    handle, path = tempfile.mkstemp(prefix="guanxi-export-", suffix=".xlsx")
    os.close(handle)
    try:
        write_xlsx(platform, actor, entity, locale, fields, filters, sort, path, search=search)
    except BaseException:
        os.unlink(path)
        raise
    return TemporaryFileResponse(
        path, media_type=XLSX_TYPE, headers=download_headers(entity, locale, "xlsx")
    )


class TemporaryFileResponse(FileResponse):
    """A file sent once and deleted afterwards, whether the download finished or not."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def write_xlsx(
    platform: Any,
    actor: Actor,
    entity: EntityDef,
    locale: str,
    fields: list[FieldDef],
    filters: Any,
    sort: list[str],
    path: str,
    *,
    search: str | None = None,
) -> int:
    """Write the export to `path` as one sheet: a bold, frozen header of field labels, then
    one typed row per record. Returns the number of records written."""
    records = start_export(platform, actor, entity, filters, sort, search=search)
    mask = platform.records.access(actor).mask(entity)
    presenter = Presenter(platform, actor, entity, locale, mask)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_sheet_title(entity.title(locale)))
    writers = [_cell_writer(sheet, presenter, field, mask.level(field.key)) for field in fields]
    count = 0
    try:
        batch = list(islice(records, BATCH))
        presenter.load(batch, fields)
        _set_widths(sheet, presenter, fields, batch, locale)  # before any row: write-only
        sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        sheet.append([_header_cell(sheet, field.title(locale), bold) for field in fields])
        while batch:
            for record in batch:
                sheet.append([write(record) for write in writers])
            count += len(batch)
            batch = list(islice(records, BATCH))
            presenter.load(batch, fields)
        workbook.save(path)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()
    return count


CellWriter = Callable[[dict[str, Any]], Any]


def _cell_writer(
    sheet: WriteOnlyWorksheet, presenter: Presenter, field: FieldDef, level: Level
) -> CellWriter:
    """How one column turns a record into a cell value: numbers, money, dates and times typed,
    everything else (labels, names, tags, masked values) as the text the screen shows."""
    widget = presenter.types.for_field(field).widget
    key = field.key

    def text(record: dict[str, Any]) -> Any:
        return _text_cell(sheet, presenter.text(field, record))

    if level == Level.MASKED or widget not in (*NUMBER_WIDGETS, "date", "datetime"):
        return text

    def typed(record: dict[str, Any]) -> Any:
        value = record.get(key)
        if value is None or value == "":
            return None
        if widget == "money" and isinstance(value, int | Decimal):
            return _formatted(sheet, Decimal(value), MONEY_FORMAT)
        if widget == "percent" and isinstance(value, int | Decimal):
            return _formatted(sheet, Decimal(value) / 100, PERCENT_FORMAT)
        if widget in ("number", "rating") and isinstance(value, int | float | Decimal):
            return value
        if widget == "datetime" and isinstance(value, datetime):
            local = clock.to_local(value).replace(tzinfo=None)
            return _formatted(sheet, local, DATETIME_FORMAT)
        if widget == "date" and isinstance(value, date):
            return _formatted(sheet, value, DATE_FORMAT)
        return text(record)  # a value of an unexpected type: shown, never lost

    return typed


def _formatted(sheet: WriteOnlyWorksheet, value: Any, number_format: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value)
    cell.number_format = number_format
    return cell


def _text_cell(sheet: WriteOnlyWorksheet, text: str) -> Any:
    """Text as text: control characters Excel refuses removed, and a value that looks like a
    formula or an error code ("=1+1", "#N/A") stored as a string, never evaluated."""
    if not text:
        return None
    text = ILLEGAL_CHARACTERS_RE.sub("", text)[:MAX_CELL_TEXT]
    if text.startswith("=") or text in ERROR_CODES:
        cell = WriteOnlyCell(sheet, text)
        cell.data_type = "s"
        return cell
    return text


def _header_cell(sheet: WriteOnlyWorksheet, label: str, font: Font) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", label))
    cell.data_type = "s"
    cell.font = font
    return cell


def _set_widths(
    sheet: WriteOnlyWorksheet,
    presenter: Presenter,
    fields: list[FieldDef],
    sample: list[dict[str, Any]],
    locale: str,
) -> None:
    """Columns as wide as their label and the first rows' text (within 8-50 characters, a
    Chinese character counting twice); typed columns get the width of their format."""
    for position, field in enumerate(fields, 1):
        widget = presenter.types.for_field(field).widget
        widths = [_display_width(field.title(locale)) + 2, TYPED_WIDTHS.get(widget, 0)]
        if widget not in TYPED_WIDTHS:
            widths += [_display_width(presenter.text(field, record)) + 2 for record in sample]
        width = min(MAX_WIDTH, max(MIN_WIDTH, *widths))
        sheet.column_dimensions[get_column_letter(position)].width = width


def _display_width(text: str) -> int:
    return sum(2 if ord(char) > 0x2E7F else 1 for char in text)


def _sheet_title(title: str) -> str:
    """A sheet name Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(char for char in title if char not in "[]:*?/\\").strip("'")
    return cleaned[:31] or "Sheet1"


# -- the route -----------------------------------------------------------------------------------


@screen
def export_xlsx(s: Screen) -> Response:
    """/r/{entity}/export.xlsx: the list view of the URL (or the selected `ids` of it) as
    a workbook, exactly as /r/{entity}/export gives it as CSV."""
    from guanxi.web.listing import ListContext, ids_of  # listing imports this module

    ctx = ListContext(s)
    filters = ctx.state.filter
    ids = ids_of(",".join(s.params.getlist("ids")).split(","))
    if ids:
        only = {"field": "id", "op": "in", "value": ids}
        filters = {"and": [filters, only]} if filters else only
    return xlsx_response(
        s.platform, s.actor, ctx.entity, s.locale, ctx.columns, filters, ctx.state.sort,
        search=ctx.state.q or None,
    )  # fmt: skip


def routes() -> list[BaseRoute]:
    return [Route("/r/{entity:str}/export.xlsx", export_xlsx)]
