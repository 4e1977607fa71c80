"""Records in the recycle bin (BIN-01) are not live: every ordinary read hides them.

A record marked by `records.soft_delete` keeps its row, with `deleted_at` and `deleted_by`
set. This query condition, ANDed into every read (lists, counts, search, related lists,
reports, exports, API, kanban, the look-up before an edit), is the one place that hides it.
It belongs to the core rather than to the recycle-bin plugin so that switching the plugin
off does not bring binned records back: only `guanxi bin restore-all` or a purge does.
The bin's own reads ask for the actions in BINNED_ACTIONS and see only binned records."""

from __future__ import annotations

from typing import Any

from guanxi.hookspecs import hookimpl
from guanxi.meta.entity import EntityDef

# "binned": read what is in the bin (view scope); "restore" and "purge": take it out again.
BINNED_ACTIONS = frozenset({"binned", "restore", "purge"})
_LIVE = [{"field": "deleted_at", "op": "is_empty"}]
_BINNED = [{"field": "deleted_at", "op": "not_empty"}]


@hookimpl
def query_conditions(entity: EntityDef, action: str) -> list[dict[str, Any]]:
    return _BINNED if action in BINNED_ACTIONS else _LIVE
