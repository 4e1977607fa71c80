"""Webhook endpoints and their delivery log (API-03): what administrators manage. Every call
checks the actor is an administrator and writes an audit row ("webhook") in the same
transaction as the change; the secret never goes into the audit log.

Record events find their endpoints through `active_endpoints`, which keeps every active
endpoint in memory for CACHE_SECONDS: a change made in this worker is seen by its next event,
one made in another worker within CACHE_SECONDS, and a worker with events to check reads the
endpoint table at most once per interval instead of once per event."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import audit
from guanxi.defaults.webhooks import delivery
from guanxi.defaults.webhooks.delivery import open_body
from guanxi.defaults.webhooks.rules import EVENTS, validated
from guanxi.defaults.webhooks.signing import new_secret
from guanxi.errors import MetadataError, NotFound, QueryError
from guanxi.i18n import _
from guanxi.store.system_tables import user, webhook, webhook_delivery

if TYPE_CHECKING:
    from guanxi.core import Guanxi

STATUSES = ("pending", "delivered", "failed")
CACHE_SECONDS = 3.0
LOG_PAGE = 50
AUDITED = ("name", "url", "entity", "events", "owner_id", "active")


@dataclass(frozen=True)
class Endpoint:
    """An active endpoint as record events need it (no secret: that is read when sending)."""

    id: int
    name: str
    entity: str
    events: frozenset[str]
    owner_id: int


class WebhookService:
    def __init__(self, platform: Guanxi) -> None:
        self.platform = platform
        self.db = platform.db
        self.cache_seconds = CACHE_SECONDS
        self._cache: tuple[float, dict[str, list[Endpoint]]] | None = None
        self._lock = threading.Lock()

    # -- endpoints for record events -----------------------------------------------------

    def active_endpoints(self, entity: str) -> list[Endpoint]:
        """The active endpoints of `entity`, from a cache at most `cache_seconds` old."""
        cached = self._cache
        if cached is None or time.monotonic() - cached[0] > self.cache_seconds:
            with self._lock:
                cached = self._cache
                if cached is None or time.monotonic() - cached[0] > self.cache_seconds:
                    cached = (time.monotonic(), self._load_active())
                    self._cache = cached
        return cached[1].get(entity, [])

    def _load_active(self) -> dict[str, list[Endpoint]]:
        query = sa.select(webhook).where(webhook.c.active.is_(True)).order_by(webhook.c.id)
        found: dict[str, list[Endpoint]] = {}
        with self.db.read() as connection:
            for row in connection.execute(query):
                found.setdefault(row.entity, []).append(
                    Endpoint(row.id, row.name, row.entity, frozenset(row.events), row.owner_id)
                )
        return found

    def invalidate(self) -> None:
        self._cache = None

    # -- reading ---------------------------------------------------------------------------

    def list_endpoints(self, actor: Actor) -> list[dict[str, Any]]:
        """Every endpoint (secrets left out) with its owner's name and latest delivery."""
        self._check_admin(actor)
        last_columns = (
            webhook_delivery.c.status,
            webhook_delivery.c.created_at,
            webhook_delivery.c.last_status,
        )
        with self.db.read() as connection:
            rows = [
                self._public(row)
                for row in connection.execute(sa.select(webhook).order_by(webhook.c.id))
            ]
            last: dict[int, dict[str, Any] | None] = {}
            for row in rows:  # one index probe per endpoint, whatever the log's size
                found = connection.execute(
                    sa.select(*last_columns)
                    .where(webhook_delivery.c.webhook_id == row["id"])
                    .order_by(webhook_delivery.c.created_at.desc(), webhook_delivery.c.id.desc())
                    .limit(1)
                ).first()
                last[row["id"]] = dict(found._mapping) if found else None
            owners = self._user_names(connection, {row["owner_id"] for row in rows})
        for row in rows:
            row["last_delivery"] = last.get(row["id"])
            row["owner_name"] = owners.get(row["owner_id"], str(row["owner_id"]))
        return rows

    def endpoint(self, actor: Actor, webhook_id: int) -> dict[str, Any]:
        """One endpoint with its secret (shown to administrators on the endpoint's page)."""
        self._check_admin(actor)
        with self.db.read() as connection:
            row = self._row(connection, webhook_id)
            found = {**self._public(row), "secret": row.secret}
            found["owner_name"] = self._user_names(connection, {row.owner_id}).get(
                row.owner_id, str(row.owner_id)
            )
        return found

    def deliveries(
        self,
        actor: Actor,
        webhook_id: int,
        *,
        status: str | None = None,
        before: int | None = None,
        limit: int = LOG_PAGE,
    ) -> tuple[list[dict[str, Any]], bool]:
        """The endpoint's delivery log, newest first, optionally one status; (rows, more)."""
        self._check_admin(actor)
        if status and status not in STATUSES:
            raise QueryError(
                _("Unknown status '{status}'", status=status), field="status", code="bad_status"
            )
        columns = [c for c in webhook_delivery.c if c.key != "body"]
        query = sa.select(*columns).where(webhook_delivery.c.webhook_id == webhook_id)
        if status:
            query = query.where(webhook_delivery.c.status == status)
        if before:
            query = query.where(webhook_delivery.c.id < before)
        query = query.order_by(webhook_delivery.c.id.desc()).limit(limit + 1)
        with self.db.read() as connection:
            self._row(connection, webhook_id)
            rows = [dict(row._mapping) for row in connection.execute(query)]
        return rows[:limit], len(rows) > limit

    def delivery(self, actor: Actor, delivery_id: int) -> dict[str, Any]:
        """One delivery with the body exactly as it was signed and sent."""
        self._check_admin(actor)
        with self.db.read() as connection:
            row = connection.execute(
                sa.select(webhook_delivery).where(webhook_delivery.c.id == delivery_id)
            ).first()
        if row is None:
            raise NotFound(_("No such delivery"))
        found = dict(row._mapping)
        found["body"] = open_body(self.platform, found["body"])
        return found

    # -- changing --------------------------------------------------------------------------

    def create(self, actor: Actor, values: Mapping[str, Any]) -> dict[str, Any]:
        """A new endpoint with a fresh secret; every invalid value is reported at once."""
        self._check_admin(actor)
        clean = validated(self.platform, values, None)
        now = clock.now_utc()
        with self.db.unit_of_work() as connection:
            webhook_id = connection.execute(
                sa.insert(webhook)
                .values(**clean, secret=new_secret(), created_at=now, updated_at=now)
                .returning(webhook.c.id)
            ).scalar_one()
            audit.write(
                connection,
                actor,
                "webhook",
                _target(webhook_id),
                {key: [None, clean[key]] for key in AUDITED},
            )
        self.invalidate()
        return self.endpoint(actor, webhook_id)

    def update(self, actor: Actor, webhook_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
        """Change some of name, url, entity, events, owner_id and active."""
        self._check_admin(actor)
        with self.db.read() as connection:
            current = self._public(self._row(connection, webhook_id))
        clean = validated(self.platform, {**current, **values}, current)
        changes = {k: [current[k], clean[k]] for k in AUDITED if clean[k] != current[k]}
        if changes:
            with self.db.unit_of_work() as connection:
                self._row(connection, webhook_id)
                connection.execute(
                    sa.update(webhook)
                    .where(webhook.c.id == webhook_id)
                    .values(**clean, updated_at=clock.now_utc())
                )
                audit.write(connection, actor, "webhook", _target(webhook_id), changes)
            self.invalidate()
        return self.endpoint(actor, webhook_id)

    def set_active(self, actor: Actor, webhook_id: int, active: bool) -> dict[str, Any]:
        return self.update(actor, webhook_id, {"active": bool(active)})

    def rotate_secret(self, actor: Actor, webhook_id: int) -> str:
        """A new secret; deliveries signed from now on (retries included) use it."""
        self._check_admin(actor)
        secret = new_secret()
        with self.db.unit_of_work() as connection:
            self._row(connection, webhook_id)
            connection.execute(
                sa.update(webhook)
                .where(webhook.c.id == webhook_id)
                .values(secret=secret, updated_at=clock.now_utc())
            )
            audit.write(connection, actor, "webhook", _target(webhook_id), {"secret": "rotated"})
        return secret

    def delete(self, actor: Actor, webhook_id: int) -> None:
        """The endpoint and its delivery log; queued retries find nothing and stop."""
        self._check_admin(actor)
        with self.db.unit_of_work() as connection:
            row = self._public(self._row(connection, webhook_id))
            connection.execute(
                sa.delete(webhook_delivery).where(webhook_delivery.c.webhook_id == webhook_id)
            )
            connection.execute(sa.delete(webhook).where(webhook.c.id == webhook_id))
            audit.write(
                connection,
                actor,
                "webhook",
                _target(webhook_id),
                {key: [row[key], None] for key in AUDITED},
            )
        self.invalidate()

    def redeliver(self, actor: Actor, delivery_id: int) -> int:
        """Send a delivery again by hand: the same body (and id), a new task, attempts reset.
        Receivers recognise a repeat by its X-Guanxi-Delivery header."""
        self._check_admin(actor)
        with self.db.unit_of_work() as connection:
            row = connection.execute(
                sa.select(webhook_delivery.c.webhook_id).where(webhook_delivery.c.id == delivery_id)
            ).first()
            if row is None:
                raise NotFound(_("No such delivery"))
            endpoint = self._row(connection, row.webhook_id)
            if not endpoint.active:
                raise MetadataError(
                    _("Activate the endpoint before sending to it"), code="inactive"
                )
            delivery.reset(self.platform, connection, delivery_id)
            self.platform.jobs.enqueue(
                delivery.JOB, {"delivery_id": delivery_id}, connection=connection
            )
            audit.write(
                connection, actor, "webhook", _target(row.webhook_id), {"redeliver": delivery_id}
            )
        return delivery_id

    def send_test(self, actor: Actor, webhook_id: int) -> int:
        """Queue a "<entity>.test" event with an empty record, to try URL and signature."""
        self._check_admin(actor)
        with self.db.unit_of_work() as connection:
            endpoint = self._row(connection, webhook_id)
            if not endpoint.active:
                raise MetadataError(
                    _("Activate the endpoint before sending to it"), code="inactive"
                )
            payload = {
                "event": f"{endpoint.entity}.test",
                "entity": endpoint.entity,
                "occurred_at": delivery.iso_utc(clock.now_utc()),
                "record": {},
                "changes": {},
                "actor": {"id": actor.user_id, "name": actor.name},
            }
            delivery_id = delivery.queue(
                self.platform, connection, webhook_id, payload, record_id=None
            )
            audit.write(connection, actor, "webhook", _target(webhook_id), {"test": delivery_id})
        return delivery_id

    # -- helpers ---------------------------------------------------------------------------

    def _check_admin(self, actor: Actor) -> None:
        self.platform.authorizer.check_admin(actor)

    def _row(self, connection: Connection, webhook_id: Any) -> Any:
        try:
            key = int(webhook_id)
        except (TypeError, ValueError):
            raise NotFound(_("No such webhook")) from None
        row = connection.execute(sa.select(webhook).where(webhook.c.id == key)).first()
        if row is None:
            raise NotFound(_("No such webhook"))
        return row

    @staticmethod
    def _public(row: Any) -> dict[str, Any]:
        found = {k: v for k, v in row._mapping.items() if k != "secret"}
        found["events"] = [e for e in EVENTS if e in (found.get("events") or [])]
        return found

    @staticmethod
    def _user_names(connection: Connection, ids: set[int]) -> dict[int, str]:
        if not ids:
            return {}
        rows = connection.execute(
            sa.select(user.c.id, user.c.username, user.c.display_name).where(
                user.c.id.in_(sorted(ids))
            )
        )
        return {row.id: row.display_name or row.username for row in rows}


def _target(webhook_id: int) -> str:
    return f"webhook:{webhook_id}"


_services: WeakKeyDictionary[Any, WebhookService] = WeakKeyDictionary()
_services_lock = threading.Lock()


def webhooks(platform: Guanxi) -> WebhookService:
    """The platform's webhook service (one per platform, so its endpoint cache is shared)."""
    found = _services.get(platform)
    if found is None:
        with _services_lock:
            found = _services.get(platform)
            if found is None:
                found = _services[platform] = WebhookService(platform)
    return found
