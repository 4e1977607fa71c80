"""The candidate-group report (DATA-08): records sharing a duplicate rule's key, a page of
groups at a time. Every record is read through records.query with the viewer's actor, so
scopes and field masks apply: a group is shown only with two or more records the viewer may
see, and only those. Each group links to the merge page of its module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.actor import Actor
from guanxi.auth.fields import Level
from guanxi.authorization import Access
from guanxi.defaults.duplicates.rules import Rule, RuleBook
from guanxi.errors import GuanxiError, NotFound
from guanxi.i18n import _
from guanxi.store.query import MAX_PAGE_SIZE
from guanxi.store.system_tables import dup_key, dup_rule
from guanxi.web.display import Cell, Presenter
from guanxi.web.screen import Screen, screen, url_with

PATH = "/duplicates/report"
PAGE_GROUPS = 50
BATCH = 200  # groups read at once; most of them may be outside a sales rep's scope
MAX_SCANNED = 2000  # groups read for one page at most, so a narrow scope never makes it slow
MAX_MEMBERS = 20  # records listed per group
MERGE_MAX = 3  # records merged at once (the merge page takes two or three)
MENU_ITEM = {
    "href": PATH,
    "label": {"zh-CN": "重复数据", "en": "Duplicates"},
    "position": 62,
}


@dataclass(frozen=True)
class Member:
    entity: str
    id: int
    title: str
    owner: str
    created_at: datetime | None
    values: tuple[tuple[str, Cell], ...]  # the rule's fields as the viewer may see them

    @property
    def href(self) -> str:
        return f"/r/{self.entity}/{self.id}"


@dataclass(frozen=True)
class Group:
    members: tuple[Member, ...]
    more: int  # visible records beyond MAX_MEMBERS
    merges: tuple[tuple[str, str], ...]  # (module label, merge page address)


@dataclass(frozen=True)
class GroupPage:
    groups: list[Group]
    after: str | None  # cursor of the next page; None on the last one


def visible_rules(platform: Any, book: RuleBook, access: Access) -> list[Rule]:
    """Active rules covering a module the viewer may open."""
    names = {e.name for e in platform.registry.entities()}
    return [
        rule
        for rule in book.all()
        if rule.active and any(e in names and access.allows(e, "view") for e in rule.entities())
    ]


def menu_entries(platform: Any, actor: Actor) -> list[dict[str, Any]]:
    """For administrators, and for managers: whoever may reassign records of a module that an
    active rule covers (they decide which duplicate survives)."""
    access = platform.records.access(actor)
    if access.is_admin:
        return [dict(MENU_ITEM)]
    book = getattr(platform, "duplicates", None)
    if book is None:
        return []
    covered = {e for rule in book.all() if rule.active for e in rule.entities()}
    return [dict(MENU_ITEM)] if any(access.allows(e, "assign") for e in covered) else []


def group_page(
    platform: Any,
    actor: Actor,
    rule: Rule,
    locale: str,
    after: str | None = None,
    limit: int = PAGE_GROUPS,
) -> GroupPage:
    """Up to `limit` groups of `rule` with two or more records visible to `actor`, largest
    groups first, from the cursor `after`."""
    cursor = _decode(after)
    access = platform.records.access(actor)
    found: list[Group] = []
    scanned = 0
    while scanned < MAX_SCANNED:
        with platform.db.read() as connection:
            raw = _raw_groups(connection, rule.id, cursor, BATCH)
            members = _members(connection, rule.id, [key for key, _size in raw])
        if not raw:
            return GroupPage(found, None)
        rows = _visible_rows(platform, actor, members)
        shown = _Shown(platform, actor, access, rule, locale, rows)
        for key, size in raw:
            cursor = (size, key)
            scanned += 1
            group = shown.group([m for m in members.get(key, []) if m in rows])
            if group is not None:
                found.append(group)
                if len(found) == limit:
                    return GroupPage(found, _encode(cursor))
        if len(raw) < BATCH:
            return GroupPage(found, None)
    return GroupPage(found, _encode(cursor))


# -- reading the keys -----------------------------------------------------------------------------


def _raw_groups(
    connection: Connection, rule_id: int, cursor: tuple[int, str] | None, limit: int
) -> list[tuple[str, int]]:
    """(key, size) of groups after the cursor, largest first (the order of the scan)."""
    sizes = (
        sa.select(dup_key.c.key, sa.func.count().label("size"))
        .where(dup_key.c.rule_id == rule_id)
        .group_by(dup_key.c.key)
        .having(sa.func.count() > 1)
        .subquery("groups")
    )
    query = sa.select(sizes.c.key, sizes.c.size)
    if cursor is not None:
        size, key = cursor
        query = query.where(
            sa.or_(sizes.c.size < size, sa.and_(sizes.c.size == size, sizes.c.key > key))
        )
    rows = connection.execute(query.order_by(sizes.c.size.desc(), sizes.c.key).limit(limit))
    return [(str(row.key), int(row.size)) for row in rows]


def _members(
    connection: Connection, rule_id: int, keys: list[str]
) -> dict[str, list[tuple[str, int]]]:
    """The records of each key, oldest first: one read for the whole batch."""
    if not keys:
        return {}
    rows = connection.execute(
        sa.select(dup_key.c.key, dup_key.c.entity, dup_key.c.record_id)
        .where(dup_key.c.rule_id == rule_id, dup_key.c.key.in_(keys))
        .order_by(dup_key.c.key, dup_key.c.record_id)
    )
    found: dict[str, list[tuple[str, int]]] = {}
    for row in rows:
        found.setdefault(str(row.key), []).append((str(row.entity), int(row.record_id)))
    return found


def _visible_rows(
    platform: Any, actor: Actor, members: dict[str, list[tuple[str, int]]]
) -> dict[tuple[str, int], dict[str, Any]]:
    """The records the viewer may see, through the read path (scope and field mask)."""
    wanted: dict[str, set[int]] = {}
    for entity_name, record_id in (m for group in members.values() for m in group):
        wanted.setdefault(entity_name, set()).add(record_id)
    names = {e.name for e in platform.registry.entities()}
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for entity_name, ids in wanted.items():
        if entity_name not in names:
            continue
        ordered = sorted(ids)
        for start in range(0, len(ordered), MAX_PAGE_SIZE):
            chunk = ordered[start : start + MAX_PAGE_SIZE]
            try:
                page = platform.records.query(
                    actor, entity_name, {"field": "id", "op": "in", "value": chunk},
                    limit=len(chunk),
                )  # fmt: skip
            except GuanxiError:  # a module the viewer may not open: none of its records
                break
            found.update({(entity_name, int(row["id"])): row for row in page.rows})
    return found


class _Shown:
    """Turns visible records into groups: titles, owners and the rule's fields, formatted
    per module with one Presenter each (one read per referenced module)."""

    def __init__(
        self,
        platform: Any,
        actor: Actor,
        access: Access,
        rule: Rule,
        locale: str,
        rows: dict[tuple[str, int], dict[str, Any]],
    ) -> None:
        self.platform = platform
        self.access = access
        self.rule = rule
        self.locale = locale
        self.rows = rows
        snapshot = platform.registry.snapshot()
        self.presenters: dict[str, Presenter] = {}
        for entity_name in {e for e, _id in rows}:
            entity = snapshot.entity(entity_name)
            mask = access.mask(entity)
            keys = {entity.title_field, "owner_id", *(rule.fields_for(entity_name) or ())}
            fields = [f for f in (entity.get_field(k) for k in keys) if f is not None]
            presenter = Presenter(platform, actor, entity, locale, mask)
            self.presenters[entity_name] = presenter.load(
                [row for (e, _id), row in rows.items() if e == entity_name], fields
            )

    def group(self, visible: list[tuple[str, int]]) -> Group | None:
        if len(visible) < 2:
            return None
        rank = {name: position for position, name in enumerate(self.rule.entities())}
        visible = sorted(visible, key=lambda m: (rank.get(m[0], len(rank)), m[1]))
        members = tuple(self._member(e, i) for e, i in visible[:MAX_MEMBERS])
        merges = []
        for entity_name in dict.fromkeys(e for e, _i in visible):
            ids = [i for e, i in visible if e == entity_name][:MERGE_MAX]
            if len(ids) >= 2 and self.access.allows(entity_name, "edit"):
                entity = self.presenters[entity_name].entity
                merges.append((entity.title(self.locale),
                               f"/duplicates/merge/{entity_name}?ids={','.join(map(str, ids))}"))  # fmt: skip
        return Group(members, max(0, len(visible) - MAX_MEMBERS), tuple(merges))

    def _member(self, entity_name: str, record_id: int) -> Member:
        row = self.rows[(entity_name, record_id)]
        presenter = self.presenters[entity_name]
        entity = presenter.entity

        def shown(key: str) -> str:
            field = entity.get_field(key)
            return presenter.text(field, row) if field is not None and key in row else ""

        values = []
        for key in self.rule.fields_for(entity_name) or ():
            field = entity.get_field(key)
            if field is not None and presenter.mask.level(key) >= Level.MASKED and key in row:
                values.append((field.title(self.locale), presenter.cell(field, row)))
        title = shown(entity.title_field) or str(row.get("number") or f"#{record_id}")
        created = row.get("created_at")
        return Member(entity_name, record_id, title, shown("owner_id"),
                      created if isinstance(created, datetime) else None, tuple(values))  # fmt: skip


def _encode(cursor: tuple[int, str] | None) -> str | None:
    return f"{cursor[0]}.{cursor[1]}" if cursor else None


def _decode(raw: str | None) -> tuple[int, str] | None:
    size, _sep, key = (raw or "").partition(".")
    if not size.isdigit() or not key or len(key) > 64:
        return None
    return int(size), key


# -- the screen -----------------------------------------------------------------------------------


@screen
def report_page(s: Screen) -> Response:
    platform = s.platform
    access = platform.records.access(s.actor)
    rules = visible_rules(platform, platform.duplicates, access)
    chosen = _chosen(s, rules)
    page = None
    if chosen is not None:
        after = s.params.get("after")
        page = group_page(platform, s.actor, chosen, s.locale, after, limit=PAGE_GROUPS)
    titles = {e.name: e.title(s.locale) for e in platform.registry.entities()}
    return s.render(
        "duplicates/rules_groups.html",
        rules=rules,
        chosen=chosen,
        page=page,
        titles=titles,
        scans=_scans(platform) if access.is_admin else {},
        is_admin=access.is_admin,
        next_url=url_with(s.params, after=page.after) if page and page.after else None,
        first_url=url_with(s.params, after=None) if s.params.get("after") else None,
    )


def _chosen(s: Screen, rules: list[Rule]) -> Rule | None:
    raw = s.params.get("rule", "")
    if not raw:
        return rules[0] if rules else None
    found = next((r for r in rules if str(r.id) == raw), None)
    if found is None:
        raise NotFound(_("No such duplicate rule"))
    return found


def _scans(platform: Any) -> dict[int, dict[str, Any]]:
    """The last scan per rule (company-wide counts: shown to administrators only)."""
    with platform.db.read() as connection:
        rows = connection.execute(sa.select(dup_rule.c.id, dup_rule.c.last_scan)).all()
    summaries = {int(row.id): scan_summary(row.last_scan) for row in rows}
    return {rule_id: summary for rule_id, summary in summaries.items() if summary}


def scan_summary(raw: Any) -> dict[str, Any] | None:
    """gx_dup_rule.last_scan ({"at": ISO text, "groups", "records"}) with `at` as a moment."""
    if not isinstance(raw, dict) or "at" not in raw:
        return None
    try:
        at = datetime.fromisoformat(str(raw["at"]))
    except ValueError:
        return None
    return {
        "at": at,
        "groups": int(raw.get("groups") or 0),
        "records": int(raw.get("records") or 0),
    }


def routes() -> list[BaseRoute]:
    return [Route(PATH, report_page)]
