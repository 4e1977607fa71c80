"""List query parameters (API-01), documented in docs/api.md and the OpenAPI document:

    filter=<JSON filter tree>          the store/query.py language list screens put in the URL
    filter[<field>]=v                  shorthand for {"field", "op": "eq", "value": v}
    filter[<field>][<op>]=v            any operator; in/not_in/any/all/none take a comma list
                                       or the parameter repeated, between takes "from,to"
    sort=-amount,name                  up to four keys, "-" descending
    limit=50                           1..200
    cursor=<links.next's cursor>       keyset pages
    q=text                             quick search
    count=true                         the capped total in meta.count

All conditions are AND-ed. A bad parameter is a 400 naming it (or the entity field at fault).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from guanxi.errors import QueryError
from guanxi.i18n import _
from guanxi.rest.body import storable, text_is_storable
from guanxi.rest.problems import ApiProblem, bad_request

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_SEARCH = 200
MAX_INT = 2**63 - 1
LIST_OPS = frozenset({"in", "not_in", "any", "all", "none"})
NO_VALUE_OPS = frozenset({"is_empty", "not_empty"})
_SHORTHAND = re.compile(r"filter\[([^\[\]]+)\](?:\[([a-z_]+)\])?")
KNOWN = frozenset({"filter", "sort", "limit", "cursor", "q", "count", "lang"})
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no", ""})
# QueryErrors that do not name an entity field name the parameter instead
_PARAMETER_OF_CODE = {
    "bad_sort": "sort",
    "too_many_sorts": "sort",
    "not_sortable": "sort",
    "bad_cursor": "cursor",
    "bad_limit": "limit",
}


@dataclass(frozen=True)
class ListQuery:
    filters: list[Any]
    sort: list[str]
    limit: int
    cursor: str | None
    search: str | None
    count: bool


def parse_list_query(params: QueryParams) -> ListQuery:
    for key, value in params.multi_items():
        if not text_is_storable(key) or not text_is_storable(value):
            raise bad_request(
                _("Parameter '{name}' holds a NUL character", name=key.replace("\x00", "")),
                field=key.replace("\x00", ""),
                code="bad_parameter",
            )
        if key not in KNOWN and not _SHORTHAND.fullmatch(key):
            raise bad_request(
                _("Unknown parameter '{name}'", name=key), field=key, code="unknown_parameter"
            )
    filters = _filters(params)
    return ListQuery(
        filters=filters,
        sort=_sort(params.get("sort")),
        limit=_limit(params.get("limit")),
        cursor=_cursor(params.get("cursor")),
        search=_search(params.get("q")),
        count=_flag(params.get("count"), "count"),
    )


def _filters(params: QueryParams) -> list[Any]:
    conditions: list[Any] = []
    raw = params.get("filter")
    if raw is not None and raw.strip():
        try:
            tree = json.loads(raw)
        except (ValueError, RecursionError):
            raise bad_request(
                _(
                    "filter must be a JSON filter such as {example}",
                    example='{"field": "stage", "op": "eq", "value": "won"}',
                ),
                field="filter",
                code="bad_filter",
            ) from None
        if not isinstance(tree, dict | list):
            raise bad_request(
                _("A filter must be an object or a list"), field="filter", code="bad_filter"
            )
        if not storable(tree):  # "\u0000" or a lone surrogate, spelled as a JSON escape
            raise bad_request(
                _("Parameter '{name}' holds a NUL character", name="filter"),
                field="filter",
                code="bad_parameter",
            )
        conditions.append(tree)
    grouped: dict[tuple[str, str], list[str]] = {}
    for key, value in params.multi_items():
        match = _SHORTHAND.fullmatch(key)
        if match:
            grouped.setdefault((match.group(1), match.group(2) or "eq"), []).append(value)
    for (field, op), values in grouped.items():
        conditions.append({"field": field, "op": op, "value": _shorthand_value(op, values)})
    return conditions


def _shorthand_value(op: str, values: list[str]) -> Any:
    if op in NO_VALUE_OPS:
        return None
    if op in LIST_OPS:
        return [item for value in values for item in value.split(",") if item != ""]
    if op == "between":
        parts = values[-1].split(",")
        return [parts[0], parts[1]] if len(parts) == 2 else parts
    return values[-1]


def _sort(raw: str | None) -> list[str]:
    if raw is None or not raw.strip():
        return []
    return [part.strip() for part in raw.split(",")]


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,4}", raw.strip()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request(
            _("limit must be a whole number from 1 to {max}", max=MAX_LIMIT),
            field="limit",
            code="bad_limit",
        )
    return int(raw)


def _cursor(raw: str | None) -> str | None:
    """The cursor as given; one with numbers beyond 64 bits is refused here (no database
    compares with those)."""
    if raw is None or not raw:
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeError):
        values = None
    if not isinstance(values, list) or any(
        isinstance(v, int) and not -MAX_INT <= v <= MAX_INT for v in values
    ):
        raise bad_request(
            _("The page cursor is invalid or belongs to another sort"),
            field="cursor",
            code="bad_cursor",
        )
    return raw


def _search(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_SEARCH:
        raise bad_request(
            _("Search for at most {n} characters", n=MAX_SEARCH), field="q", code="too_long"
        )
    return raw


def _flag(raw: str | None, name: str) -> bool:
    if raw is None:
        return False
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise bad_request(_("{name} must be true or false", name=name), field=name, code="bad_flag")


def query_problem(error: QueryError) -> ApiProblem:
    """A QueryError from the read path as a 400 that names the field or parameter at fault."""
    field = error.field or _PARAMETER_OF_CODE.get(error.code, "filter")
    return bad_request(error.message, field=field, code=error.code)
