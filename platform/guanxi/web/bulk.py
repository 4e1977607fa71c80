"""Bulk actions over the selected rows of a list (UI-03): assign, add or remove tags, set one
field, delete, export. Each record goes through the record service on its own, so one refusal
never stops the others; the answer is the list body re-rendered with a summary notice. An
export of the selection (CSV or XLSX, DATA-10) answers with a redirect to the export of the
list view narrowed to those ids. Kept out of listing.py, which only shows the list (and the
toolbar that posts here)."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.errors import GuanxiError, QueryError
from guanxi.i18n import _
from guanxi.meta.entity import FieldDef
from guanxi.records import GONE
from guanxi.web.listing import ListContext, ids_of, render_list
from guanxi.web.screen import Screen, screen

MAX_BULK = 500
BULK_ACTIONS = ("assign", "tag_add", "tag_remove", "update", "delete")
EXPORTS = {"export_csv": "export", "export_xlsx": "export.xlsx"}
MERGE = "merge"  # opens the duplicates plugin's comparison of 2-3 records (DATA-08)


@screen
def bulk(s: Screen) -> Response:
    """One action over the selected records, each through the record service: refusals are
    counted with their reason and never stop the others."""
    assert s.form is not None
    back = QueryParams(str(s.form.get("back") or ""))
    ctx = ListContext(s, back)
    action = str(s.form.get("action") or "")
    ids = ids_of(s.form.getlist("ids"))
    problem = None
    if action not in BULK_ACTIONS and action not in EXPORTS and action != MERGE:
        problem = s.t("Choose a bulk action")
    elif not ids:
        problem = s.t("Select at least one record")
    elif len(ids) > MAX_BULK:
        problem = s.t("At most {limit} records per bulk action", limit=MAX_BULK)
    elif action == MERGE and not 2 <= len(ids) <= 3:
        problem = s.t("Choose two or three records to merge")
    if problem:
        return render_list(s, ctx, notice=problem, status=400, fragment=True)
    if action == MERGE:  # the comparison page checks the rights and the records again
        return s.redirect(f"/duplicates/merge/{ctx.entity.name}?ids=" + ",".join(map(str, ids)))
    if action in EXPORTS:
        return _export(s, ctx, EXPORTS[action], ids)
    return render_list(s, ctx, notice=_run_bulk(s, ctx, action, ids), fragment=True)


def _export(s: Screen, ctx: ListContext, route: str, ids: list[int]) -> Response:
    """Send the browser to the download: the view's filter, sort and columns, only these ids.
    The export route checks the export right again (in the service) and logs the export."""
    if not ctx.access.allows(ctx.entity.name, "export"):
        notice = s.t("You may not export this module")
        return render_list(s, ctx, notice=notice, status=403, fragment=True)
    pairs = [*ctx.state.pairs(), ("ids", ",".join(str(i) for i in ids))]
    return s.redirect(f"{ctx.path}/{route}?{urlencode(pairs, quote_via=quote)}")


def _run_bulk(s: Screen, ctx: ListContext, action: str, ids: list[int]) -> str:
    assert s.form is not None
    records, actor, name = s.platform.records, s.actor, ctx.entity.name
    found = {
        row["id"]: row
        for row in records.query(
            actor, name, {"field": "id", "op": "in", "value": ids}, limit=len(ids)
        ).rows
    }
    tag_field = ctx.tag_field()
    chosen_tags = {str(t) for t in s.form.getlist("tags") if t}
    done, pending = 0, 0
    refused: Counter[str] = Counter()
    for record_id in ids:
        row = found.get(record_id)
        if row is None:
            refused[s.t("not found")] += 1
            continue
        try:
            if action == "delete":
                outcome = records.delete(actor, name, record_id)
                done, pending = (done + 1, pending) if outcome in GONE else (done, pending + 1)
                continue
            records.update(
                actor,
                name,
                record_id,
                _changes(s, action, row, tag_field, chosen_tags),
                version=row["version"],
            )
            done += 1
        except GuanxiError as error:
            refused["；".join(e.message.render(s.locale) for e in error.errors)] += 1
    parts = [
        s.t("{count} deleted", count=done) if action == "delete"
        else s.t("{count} updated", count=done)
    ]  # fmt: skip
    if pending:
        parts.append(s.t("{count} sent for approval", count=pending))
    if refused:
        reasons = "；".join(
            reason if count == 1 else f"{reason} (×{count})" for reason, count in refused.items()
        )
        parts.append(s.t("{count} refused: {reasons}", count=sum(refused.values()),
                         reasons=reasons))  # fmt: skip
    return ("，" if s.locale == "zh-CN" else ", ").join(parts)


def _changes(
    s: Screen, action: str, row: dict[str, Any], tag_field: FieldDef | None, tags: set[str]
) -> dict[str, Any]:
    assert s.form is not None
    if action == "assign":
        return {"owner_id": s.form.get("owner_id") or None}
    if action in ("tag_add", "tag_remove"):
        if tag_field is None:
            raise QueryError(_("This module has no tags"), code="no_tags")
        current = set(row.get(tag_field.key) or [])
        updated = current | tags if action == "tag_add" else current - tags
        return {tag_field.key: sorted(updated)}
    key = str(s.form.get("field") or "")
    value = s.form.get("value")
    return {key: None if value in (None, "") else value}


def routes() -> list[BaseRoute]:
    return [Route("/r/{entity:str}/bulk", bulk, methods=["POST"])]
