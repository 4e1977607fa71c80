"""Reading a workbook in a second process while this one writes (DATA-09).

openpyxl parses about 10,000 rows a second, about as long as the record pipeline takes to
store them; on a machine with two cores the two can overlap. The reader process streams
rows through a bounded queue (a few chunks deep), so memory stays flat with the file's
size, and it is stopped as soon as the import stops reading (cancel, end of a job slice).
"""

from __future__ import annotations

import multiprocessing
import queue as queues
from collections.abc import Iterator
from itertools import islice
from typing import Any

from guanxi.errors import GuanxiError
from guanxi.i18n import _
from guanxi.imports.files import Row, TableFile

MIN_ROWS = 5_000  # below this, starting a process costs more than it saves
CHUNK = 500
DEPTH = 4  # chunks waiting in the queue at most
WAIT_SECONDS = 1.0


def rows(table: TableFile, start: int, width: int, expected: int | None) -> Iterator[Row]:
    """The table's rows from `start`, read by a second process when the file is a large
    workbook; otherwise read here."""
    remaining = (expected or 0) - start
    if table.format != "xlsx" or remaining < MIN_ROWS or multiprocessing.cpu_count() < 2:
        yield from table.rows(start=start, width=width)
        return
    yield from _from_reader(table, start, width)


def _from_reader(table: TableFile, start: int, width: int) -> Iterator[Row]:
    context = multiprocessing.get_context("spawn")  # no forked copies of open connections
    channel: Any = context.Queue(maxsize=DEPTH)
    reader = context.Process(
        target=_read, args=(table, start, width, channel), name="guanxi-import-reader"
    )
    reader.daemon = True
    reader.start()
    try:
        while True:
            try:
                message = channel.get(timeout=WAIT_SECONDS)
            except queues.Empty:
                if not reader.is_alive():
                    raise GuanxiError(_("Reading the file stopped unexpectedly")) from None
                continue
            kind, payload = message
            if kind == "rows":
                for row_no, cells in payload:
                    yield Row(row_no, cells)
            elif kind == "error":
                raise GuanxiError(_("The file could not be read: {error}", error=payload))
            else:
                return
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join(timeout=5)
        channel.close()


def _read(table: TableFile, start: int, width: int, channel: Any) -> None:
    """In the reader process: chunks of (row number, cells), then ("done", None)."""
    try:
        source = table.rows(start=start, width=width)
        while chunk := list(islice(source, CHUNK)):
            channel.put(("rows", [(row.row_no, row.cells) for row in chunk]))
    except Exception as error:  # reported to the importing process, which fails the run
        message = error.message.render("en") if isinstance(error, GuanxiError) else str(error)
        channel.put(("error", message))
        return
    channel.put(("done", None))
