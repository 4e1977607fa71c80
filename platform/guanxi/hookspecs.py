"""THE plugin contract: every hook Guanxi calls, grouped by phase. Entity is always an argument.

Plugins implement hooks with ``@guanxi.hookimpl`` (or ``guanxi.api.hookimpl``) and register in
the ``guanxi`` entry-point group; ``plugins.toml`` enables them and holds their settings.
Record and query hooks also receive ``platform`` (the running Guanxi): an implementation may
accept any subset of a hook's arguments, e.g. ``platform.plugin_settings("my_plugin")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from guanxi.actor import Actor
    from guanxi.errors import FieldError
    from guanxi.events import RecordEvent
    from guanxi.meta.entity import EntityDef
    from guanxi.meta.field_types import FieldType

PROJECT = "guanxi"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- Start-up --------------------------------------------------------------------------------


@hookspec
def startup(platform: Any) -> None:
    """Called once after every plugin is registered and metadata is loaded."""


@hookspec
def register_field_types() -> list[FieldType]:
    """Return field types (objects following meta.field_types.FieldType) to add."""


@hookspec
def register_schemas() -> list[dict[str, Any]]:
    """Return entity schema documents (JSON Schema 2020-12 + x-guanxi) this plugin adds."""


@hookspec
def extend_schemas() -> list[dict[str, Any]]:
    """Return fields this plugin adds to other modules (core or another plugin's)::

        [{"entity": "followup",
          "properties": {"lead": {"x-guanxi": {"type": "reference", "reference": "lead", ...}}},
          "optional": ["customer"],          # lift "required"; enforce your own rule instead
          "indexes": [["lead", "created_at"]],
          "related": [{"entity": "opportunity", "field": "customer"}],   # detail-page lists
          "sections": [{"code": "pool", "label": {...}}]}]

    A property that exists already is an error, never replaced.
    """


@hookspec
def register_tables() -> list[Any]:
    """Return the SQLAlchemy Tables (on the plugin's own MetaData) it keeps its state in, named
    after the plugin (never ``gx_`` or ``e_``). ``Guanxi.start()`` creates them and adds the
    columns a newer release declares, as it does for its own tables; it never drops any."""


@hookspec
def register_actions() -> dict[str, Any]:
    """Return the permission vocabulary and default grants this plugin brings (PERM-02..05)::

        {"actions": {"lead": ["convert"]},                       # extra module actions
         "roles": {"sales_rep": {"zh-CN": "销售代表", "en": "Sales rep"}},
         "grants": [["sales_rep", "lead", "view"], ["sales_rep", "lead.*", "read"],
                    ["service_agent", "customer.mobile", "read", "deny"]],
         "scopes": [["sales_rep", "lead", "view", "own"]],      # p2 rows
         "inherits": [["sales_manager", "sales_rep"]],
         "rules": [["d", "lead", "approval"], ["l", "lead", "on"]]}

    Grants are seeded once (an admin who removes one does not see it come back).
    """


@hookspec
def register_jobs() -> list[Any]:
    """Return the plugin's periodic and queued jobs (OPS-02), each run once per due time
    across all workers; see guanxi.jobs for the dict keys::

        [{"name": "sfa.pool_recycle", "every": "daily", "at": "02:00", "run": recycle},
         {"name": "sfa.notify_assignee", "run": notify, "retries": 5, "backoff": 60}]

    ``run(ctx)`` receives a guanxi.jobs.JobContext (platform, payload, attempt, due_at).
    Queue a one-off run with ``platform.jobs.enqueue(name, payload)``."""


@hookspec
def register_routes() -> list[Any]:
    """Return Starlette routes (Route/Mount) for the plugin's screens and APIs."""


# -- Writing a record (records.py calls these in this order) -----------------------------------


@hookspec
def prepare_record(
    platform: Any,
    entity: EntityDef,
    record: dict[str, Any],
    old: dict[str, Any] | None,
    actor: Actor,
    op: str,
) -> None:
    """Fill defaults, normalize or derive values in ``record`` (mutate it) before validation.

    :param op: "create", "update" or "copy" (a create that started from another record).
    """


@hookspec
def validate_record(
    platform: Any,
    entity: EntityDef,
    record: dict[str, Any],
    old: dict[str, Any] | None,
    actor: Actor,
    op: str,
    reason: str | None,
) -> list[FieldError] | None:
    """Return errors for business rules (stage entry rules, dedupe, check digits); all are shown."""


@hookspec
def record_stored(platform: Any, connection: Any, entity: EntityDef, event: RecordEvent) -> None:
    """Inside the write transaction, after the row is stored: audit rows that commit with it."""


@hookspec
def record_changed(platform: Any, event: RecordEvent) -> None:
    """After commit: notifications, webhooks, triggers. Queue work; never rewrite the record here."""


@hookspec(firstresult=True)
def delete_record(
    platform: Any, entity: EntityDef, record: dict[str, Any], actor: Actor, reason: str | None
) -> str | None:
    """Take over a deletion (recycle bin, approval): return a short outcome such as "binned".

    Called before the deletion's write transaction opens, so the plugin writes through
    ``platform.records`` (e.g. an update marking the record deleted) and gets history and
    events from the pipeline like any other change. Inside ``records.batch()`` (a merge)
    those calls join the batch's transaction: open no write transaction of your own.
    """


@hookspec(firstresult=True)
def request_delete_approval(
    platform: Any, entity: EntityDef, record: dict[str, Any], actor: Actor, reason: str | None
) -> str | None:
    """The entity's delete rule asks for approval and the actor may not approve: file a
    request and return an outcome such as "pending_approval". With no taker the deletion is
    refused with a message saying a manager must approve (PERM-06)."""


# -- Incoming records (web forms, imports: input from outside, before it is created) ----------


@hookspec(firstresult=True)
def find_duplicate(
    platform: Any, entity: EntityDef, record: dict[str, Any], actor: Actor, source: str
) -> int | None:
    """Return the id of an existing record that ``record`` (about to be created) duplicates,
    or None. The seam duplicate rules (issue 6) implement; web forms (API-04) implement it
    for a form's own match fields. The caller then creates nothing and attaches the input
    to the existing record instead.

    :param record: the input, each value parsed by its field type (as it would be stored).
    :param actor: who would create the record (a web form's owner).
    :param source: where the input comes from, e.g. "web_form".
    """


# -- Reading records -------------------------------------------------------------------------


@hookspec
def query_conditions(
    platform: Any, actor: Actor, entity: EntityDef, action: str
) -> list[dict[str, Any]] | None:
    """Return filter trees (the query language of store/query.py) every read must satisfy.

    :param action: why rows are read: "view" (lists, counts, gets), "edit" or "delete".
    """


# -- Screens (UI contributions; each answer is already filtered by what the actor may do) -----


@hookspec
def menu_items(platform: Any, actor: Actor) -> list[dict[str, Any]] | None:
    """Return navigation entries for this actor (UI-01)::

        [{"href": "/bin", "label": {"zh-CN": "回收站", "en": "Recycle bin"}, "position": 80}]

    Return only entries the actor may open; the screen behind them checks again.
    """


@hookspec
def record_actions(
    platform: Any, actor: Actor, entity: EntityDef, record: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """Return buttons for a record's detail page (UI-04), e.g. "move to public pool"::

        [{"label": {...}, "href": "/sfa/pool/42", "method": "post", "confirm": {...}}]

    `record` is already masked for the actor. A POST action carries the CSRF token.
    """


@hookspec
def timeline_items(
    platform: Any, actor: Actor, entity: EntityDef, record: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """Return items for a record's timeline (UI-07): tickets, messages, anything dated::

        [{"at": datetime_utc, "kind": "ticket", "title": "...", "body": "...",
          "href": "/r/ticket/7", "author": "..."}]

    Read them through platform.records with `actor`, so scopes and masks apply.
    """


@hookspec
def dashboard_panels(platform: Any, actor: Actor) -> list[dict[str, Any]] | None:
    """Return extra home-dashboard panels (UI-08): [{"title": ..., "figures": [{"label",
    "value", "href"}], "position": 50}]. Figures must be counted through platform.records."""


# -- Demo data ---------------------------------------------------------------------------------


@hookspec
def demo_data(platform: Any, users: dict[str, Any]) -> dict[str, int] | None:
    """Add the plugin's share of `guanxi demo` after the core's organisation and customers
    exist (OPS-01): write through platform.records as the demo users (`users`: login name ->
    Actor, e.g. "manager01", "rep01".."rep12", "service01"); return how many of each kind
    were made, e.g. {"leads": 40, "customers": 8} (counts of a core kind, such as customers
    made by converting leads, add to the core's)."""
