"""Previous/next record on a detail page (UI-04): the neighbours of a record within the list the
user came from. The list hands its state over as `?list=<q, filter, sort>`; each neighbour is a
one-row keyset page after the current record's sort values (forwards, or with every sort key
reversed for the previous one), so the cost is two small indexed queries at any list depth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from guanxi.actor import Actor
from guanxi.errors import GuanxiError
from guanxi.store.query import encode_cursor

MAX_LIST_STATE = 4000  # characters of list query string carried along


@dataclass(frozen=True)
class ListState:
    """What the list showed: its quick search, filters and sort."""

    query_string: str
    search: str | None
    filters: Any
    sort: list[str]

    @property
    def link_param(self) -> str:
        """`list=...` to append to a detail URL so the next page keeps the same list."""
        return urlencode({"list": self.query_string}) if self.query_string else ""


@dataclass(frozen=True)
class Neighbours:
    previous: int | None
    next: int | None


def list_state(raw: str | None) -> ListState | None:
    """Parse the list's query string; a malformed one is ignored rather than refused."""
    if not raw or len(raw) > MAX_LIST_STATE:
        return None
    params = parse_qs(raw, keep_blank_values=False)
    filters: list[Any] = []
    for text in params.get("filter", []):
        try:
            filters.append(json.loads(text))
        except ValueError:
            return None
    sort: list[str] = []
    for text in params.get("sort", []):
        sort.extend(item.strip() for item in text.split(",") if item.strip())
    search = (params.get("q") or [""])[0].strip() or None
    combined: Any = None
    if len(filters) == 1:
        combined = filters[0]
    elif filters:
        combined = {"and": filters}
    return ListState(raw, search, combined, sort)


def _reversed(item: str) -> str:
    return item[1:] if item.startswith("-") else f"-{item.lstrip('+')}"


def _sort_fields(sort: list[str], readable: set[str]) -> list[tuple[str, bool]]:
    """The sort keys the read path will use: as given, else newest first; `id` breaks ties."""
    keys = [(item.lstrip("-+"), item.startswith("-")) for item in sort]
    if not keys:
        keys = [("created_at", True) if "created_at" in readable else ("id", True)]
    if keys[-1][0] != "id":
        keys.append(("id", keys[-1][1]))
    return keys


def find(
    records: Any,
    actor: Actor,
    entity: str,
    record: dict[str, Any],
    state: ListState,
) -> Neighbours:
    """The records just before and after `record` in the list's order (None at either end)."""
    keys = _sort_fields(state.sort, set(record))
    if any(field not in record for field, _ in keys):
        return Neighbours(None, None)  # sorted on a field this user cannot read
    cursor = encode_cursor([record[field] for field, _ in keys])
    sort = state.sort or [("-" if keys[0][1] else "") + keys[0][0]]
    reverse = [_reversed(item) for item in sort]
    found: list[int | None] = []
    for order in (reverse, sort):
        try:
            page = records.query(
                actor, entity, state.filters, sort=order, after=cursor, limit=1,
                search=state.search,
            )  # fmt: skip
        except GuanxiError:
            return Neighbours(None, None)  # a list state that no longer applies
        found.append(page.rows[0]["id"] if page.rows else None)
    return Neighbours(found[0], found[1])
