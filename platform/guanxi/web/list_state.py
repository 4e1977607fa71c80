"""The state of a list view (UI-02), all of it in the URL so a view can be shared, bookmarked
and walked back through: quick search, filter tree, sort, columns, saved view, cursor, page
size. Also the filter builder: its form rows <-> the store/query.py filter language."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData, QueryParams

from guanxi.errors import QueryError
from guanxi.i18n import Message, _
from guanxi.meta.field_types import EMPTY_OPS, RELATIVE_DATE_OPS

PAGE_SIZES = (20, 50, 100)
DEFAULT_PAGE_SIZE = 50
MAX_SORT_LEVELS = 4
STATE_KEYS = ("q", "filter", "sort", "cols", "n")
# Saved views store columns under "columns" (the gx_saved_view.state contract).
SAVED_KEYS = {"q": "q", "filter": "filter", "sort": "sort", "cols": "columns", "n": "n"}

JOINS = ("and", "or")
LIST_OPS = ("in", "not_in", "any", "all", "none")
DAYS_OPS = ("last_n_days", "next_n_days")
REFERENCE_WIDGETS = ("reference", "user", "department")
# What a picker can express: one record, or none.
REFERENCE_OPS = ("eq", "ne", "is_empty", "not_empty")


@dataclass
class ListState:
    """One list view's state; `view` names the saved view it started from."""

    q: str = ""
    filter: Any = None
    sort: list[str] = field(default_factory=list)
    cols: list[str] = field(default_factory=list)
    n: int = DEFAULT_PAGE_SIZE
    view: int | None = None
    after: str | None = None
    base: Mapping[str, Any] = field(default_factory=dict)  # the saved view's state, if any

    @classmethod
    def from_params(
        cls, params: QueryParams | Mapping[str, Any], saved: Mapping[str, Any] | None = None
    ) -> ListState:
        """Saved view state first, then whatever the URL says explicitly (even empty)."""
        base = {key: (saved or {}).get(SAVED_KEYS[key]) for key in STATE_KEYS}
        raw = {key: base[key] for key in STATE_KEYS}
        for key in STATE_KEYS:
            if key in params:
                raw[key] = _joined(params, key)
        state = cls(
            q=str(raw["q"] or "").strip()[:200],
            filter=parse_filter(raw["filter"]),
            sort=split_list(raw["sort"])[: MAX_SORT_LEVELS + 1],
            cols=split_list(raw["cols"]),
            n=page_size(raw["n"]),
            view=_int(params.get("view")),
            after=str(params.get("after") or "") or None,
        )
        state.base = {
            "q": str(base["q"] or ""),
            "filter": parse_filter(base["filter"]) if base["filter"] else None,
            "sort": split_list(base["sort"]),
            "cols": split_list(base["cols"]),
            "n": page_size(base["n"]),
        }
        return state

    def saved_state(self) -> dict[str, Any]:
        """What a saved view keeps (never the cursor)."""
        return {
            "q": self.q,
            "filter": self.filter,
            "sort": list(self.sort),
            "columns": list(self.cols),
            "n": self.n,
        }

    def pairs(self, *, after: bool = False, view: bool = True) -> list[tuple[str, str]]:
        """Query parameters for this state: values that differ from the defaults, plus explicit
        empty ones where they override something the saved view set."""
        values = {
            "q": self.q,
            "filter": filter_text(self.filter),
            "sort": ",".join(self.sort),
            "cols": ",".join(self.cols),
            "n": str(self.n),
        }
        based = {
            "q": self.base.get("q") or "",
            "filter": filter_text(self.base.get("filter")),
            "sort": ",".join(self.base.get("sort") or []),
            "cols": ",".join(self.base.get("cols") or []),
            "n": str(self.base.get("n") or DEFAULT_PAGE_SIZE),
        }
        with_view = view and self.view is not None
        if not with_view:
            based = {"q": "", "filter": "", "sort": "", "cols": "", "n": str(DEFAULT_PAGE_SIZE)}
        items: list[tuple[str, str]] = [("view", str(self.view))] if with_view else []
        for key in STATE_KEYS:
            if values[key] != based[key]:
                items.append((key, values[key]))  # may be empty: it overrides the view
        if after and self.after:
            items.append(("after", self.after))
        return items

    def query_string(self, **kwargs: Any) -> str:
        return urlencode(self.pairs(**kwargs), quote_via=quote)

    def url(self, path: str, **changes: Any) -> str:
        """This state with some parts changed (e.g. sort=[...], after=None) as a URL."""
        changed = replace(self, **{k: v for k, v in changes.items() if k != "keep_after"})
        keep_after = changes.get("keep_after", "after" in changes)
        query = changed.query_string(after=keep_after)
        return f"{path}?{query}" if query else path


def _joined(params: QueryParams | Mapping[str, Any], key: str) -> str:
    """A parameter that may come as one comma list or repeated (a GET form's checkboxes)."""
    if isinstance(params, QueryParams) and key in ("cols", "sort"):
        return ",".join(str(v) for v in params.getlist(key))
    return str(params.get(key) or "")


def split_list(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else str(value or "").split(",")
    return list(dict.fromkeys(str(i).strip() for i in items if i and str(i).strip()))


def page_size(value: Any) -> int:
    number = _int(value)
    return number if number in PAGE_SIZES else DEFAULT_PAGE_SIZE


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def parse_filter(value: Any) -> Any:
    """The `filter` parameter (JSON) -> a filter tree; the store checks fields and values."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise QueryError(
            _("The filter is not valid JSON"), field="filter", code="bad_filter"
        ) from None


def filter_text(tree: Any) -> str:
    if tree is None or tree == [] or tree == {}:
        return ""
    return json.dumps(tree, ensure_ascii=False, separators=(",", ":"))


def sort_items(sort: Iterable[str]) -> list[tuple[str, bool]]:
    """["-created_at", "name"] -> [("created_at", True), ("name", False)]."""
    return [(item.lstrip("-+"), item.startswith("-")) for item in sort]


def toggled_sort(sort: list[str], key: str) -> list[str]:
    """A header click: sort by this column alone, flipping direction if it already leads."""
    items = sort_items(sort)
    if items and items[0][0] == key:
        return [("" if items[0][1] else "-") + key]
    return [key]


# -- the filter builder ------------------------------------------------------------------------


@dataclass
class Condition:
    key: str
    field: str = ""
    op: str = ""
    value: Any = ""  # a string, or a list for list operators
    value2: str = ""


@dataclass
class Group:
    key: str
    join: str = "and"
    conditions: list[Condition] = field(default_factory=list)


@dataclass
class Builder:
    """The builder's rows: top-level conditions and one level of nested groups."""

    join: str = "and"
    conditions: list[Condition] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    representable: bool = True


def new_key() -> str:
    """Row keys only need to be unique within one form: a short random token."""
    return secrets.token_hex(3)


def builder_from_tree(tree: Any, date_fields: Iterable[str] = ()) -> Builder:
    """Rows for a filter tree; a tree deeper than the builder shows (not, nested groups)
    comes back as `representable=False` and is edited as JSON."""
    builder = Builder()
    if tree is None or tree == [] or tree == {}:
        return builder
    dates = set(date_fields)
    join, children = _split(tree)
    if join is None:
        return Builder(representable=False)
    builder.join = join
    for child in children:
        if _is_leaf(child):
            builder.conditions.append(_condition(child, dates))
            continue
        group_join, group_children = _split(child)
        if group_join is None or not all(_is_leaf(c) for c in group_children):
            return Builder(representable=False)
        builder.groups.append(
            Group(new_key(), group_join, [_condition(c, dates) for c in group_children])
        )
    return builder


def _split(node: Any) -> tuple[str | None, list[Any]]:
    if _is_leaf(node):
        return "and", [node]
    if isinstance(node, list):
        return "and", node
    if isinstance(node, dict) and len(node) == 1:
        join = next(iter(node))
        if join in JOINS and isinstance(node[join], list):
            return join, node[join]
    return None, []


def _is_leaf(node: Any) -> bool:
    return isinstance(node, dict) and "field" in node


def _condition(node: Mapping[str, Any], dates: set[str]) -> Condition:
    key = str(node.get("field") or "")
    op = str(node.get("op") or "eq")
    value = node.get("value")
    trim = (
        (lambda v: str(v or "")[:10]) if key in dates else (lambda v: "" if v is None else str(v))
    )
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return Condition(new_key(), key, op, trim(value[0]), trim(value[1]))
    if op in LIST_OPS:
        items = value if isinstance(value, list) else [value]
        return Condition(new_key(), key, op, [str(v) for v in items if v is not None])
    return Condition(new_key(), key, op, trim(value))


_ROW = re.compile(r"^f\.([A-Za-z0-9_]{1,20})\.field$")


def tree_from_form(form: FormData | QueryParams, datetime_fields: Iterable[str] = ()) -> Any:
    """The builder's submitted rows (f.<key>.field/op/value/value2/group, g.<key>.join) -> a
    filter tree, or None when no row names a field. Values are passed on as typed: the
    store parses them per field type and names the field when one is wrong."""
    datetimes = set(datetime_fields)
    top: list[Any] = []
    grouped: dict[str, list[Any]] = {}
    for name, _value in form.multi_items():
        found = _ROW.match(name)
        if not found:
            continue
        key = found.group(1)
        field_key = str(form.get(f"f.{key}.field") or "").strip()
        if not field_key:
            continue
        op = str(form.get(f"f.{key}.op") or "eq")
        leaf: dict[str, Any] = {"field": field_key, "op": op}
        values = [str(v).strip() for v in form.getlist(f"f.{key}.value") if isinstance(v, str)]
        if op == "between":
            low = values[0] if values else ""
            high = str(form.get(f"f.{key}.value2") or "").strip()
            if field_key in datetimes and len(high) == 10:
                high += "T23:59:59"  # "to 30 Nov" includes that whole day
            leaf["value"] = [low or None, high or None]
        elif op in LIST_OPS:
            items = values if len(values) != 1 else re.split(r"[,，、;；]", values[0])
            leaf["value"] = [item.strip() for item in items if item.strip()]
        elif op in DAYS_OPS or (op not in EMPTY_OPS and op not in RELATIVE_DATE_OPS):
            leaf["value"] = values[0] if values else ""
        group = str(form.get(f"f.{key}.group") or "")
        if group:
            grouped.setdefault(group, []).append(leaf)
        else:
            top.append(leaf)
    for group, leaves in grouped.items():
        join = str(form.get(f"g.{group}.join") or "and")
        join = join if join in JOINS else "and"
        top.append(leaves[0] if len(leaves) == 1 else {join: leaves})
    if not top:
        return None
    join = str(form.get("f.join") or "and")
    join = join if join in JOINS else "and"
    if len(top) == 1:
        return top[0]
    return {join: top}


def value_kind(widget: str, op: str) -> str:
    """Which input the builder shows for a value."""
    if op in EMPTY_OPS or (op in RELATIVE_DATE_OPS and op not in DAYS_OPS):
        return "none"
    if op in DAYS_OPS:
        return "days"
    if widget in REFERENCE_WIDGETS:
        return "picker"
    if widget in ("select", "stage"):
        return "checks" if op in LIST_OPS else "select"
    if widget in ("multiselect", "tags"):
        return "checks"
    if widget == "checkbox":
        return "bool"
    if widget in ("date", "datetime"):
        return "date2" if op == "between" else "date"
    if widget in ("number", "money", "percent", "rating"):
        return "number2" if op == "between" else "number"
    return "text"


def operators_for(widget: str, operators: Iterable[str]) -> list[str]:
    ops = list(operators)
    if widget in REFERENCE_WIDGETS:
        return [op for op in ops if op in REFERENCE_OPS]
    return ops


OP_LABELS = {
    "eq": _("is"),
    "ne": _("is not"),
    "in": _("is any of"),
    "not_in": _("is none of"),
    "is_empty": _("is empty"),
    "not_empty": _("is not empty"),
    "lt": _("is less than"),
    "lte": _("is at most"),
    "gt": _("is greater than"),
    "gte": _("is at least"),
    "between": _("is between"),
    "contains": _("contains"),
    "not_contains": _("does not contain"),
    "starts_with": _("starts with"),
    "ends_with": _("ends with"),
    "any": _("has any of"),
    "all": _("has all of"),
    "none": _("has none of"),
    "today": _("is today"),
    "yesterday": _("is yesterday"),
    "tomorrow": _("is tomorrow"),
    "this_week": _("is this week"),
    "last_week": _("is last week"),
    "this_month": _("is this month"),
    "last_month": _("is last month"),
    "this_quarter": _("is this quarter"),
    "this_year": _("is this year"),
    "last_year": _("is last year"),
    "last_n_days": _("in the last N days"),
    "next_n_days": _("in the next N days"),
}
DATE_OP_LABELS = {
    "lt": _("is before"),
    "lte": _("is on or before"),
    "gt": _("is after"),
    "gte": _("is on or after"),
}


def op_label(op: str, widget: str) -> Message:
    """An operator as a person reads it (dates read as before/after)."""
    if widget in ("date", "datetime") and op in DATE_OP_LABELS:
        return DATE_OP_LABELS[op]
    return OP_LABELS.get(op, Message(op))
