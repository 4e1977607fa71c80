"""Admin screens for webhooks (API-03): the endpoint list, create and edit forms with entity,
event and owner pickers, the secret with a rotate button, activate / deactivate / delete /
send a test event, and each endpoint's delivery log with redelivery by hand. The screens
parse forms and render; WebhookService checks the administrator and does the work."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth import identity
from guanxi.defaults.webhooks.service import EVENTS, STATUSES, WebhookService, webhooks
from guanxi.errors import GuanxiError, ValidationFailed
from guanxi.i18n import _
from guanxi.web.admin.org_common import admin_screen, field_messages, path_id, text
from guanxi.web.screen import Screen, url_with

EVENT_LABELS = {
    "created": _("Created"),
    "updated": _("Updated"),
    "deleted": _("Deleted"),
    "stage_changed": _("Stage changed"),
}
STATUS_LABELS = {"pending": _("Pending"), "delivered": _("Delivered"), "failed": _("Failed")}
NOTICES = {
    "created": _("Webhook created. Give the secret to the receiving system."),
    "saved": _("Saved"),
    "rotated": _("A new secret was generated; the old one no longer signs deliveries."),
    "activated": _("Activated"),
    "deactivated": _("Deactivated: no events are sent until it is activated again."),
    "tested": _("A test event was queued; its result appears in the delivery log."),
    "deleted": _("Webhook deleted"),
    "redelivered": _("The delivery was queued again."),
}
TEMPLATE_DIR = "admin/webhooks"


def _service(s: Screen) -> WebhookService:
    return webhooks(s.platform)


def _choices(s: Screen) -> dict[str, Any]:
    """What the form offers: modules, events (with their labels) and active users."""
    entities = sorted(s.platform.registry.entities(), key=lambda e: e.title(s.locale))
    users = [u for u in identity.list_users(s.platform.db) if u.get("active")]
    return {
        "entities": [(e.name, e.title(s.locale), bool(e.pipelines)) for e in entities],
        "events": [(code, EVENT_LABELS[code].render(s.locale)) for code in EVENTS],
        "users": [(u["id"], u["display_name"] or u["username"], u["username"]) for u in users],
    }


def _form_values(s: Screen) -> dict[str, Any]:
    assert s.form is not None
    return {
        "name": text(s, "name"),
        "url": text(s, "url"),
        "entity": text(s, "entity"),
        "events": [str(e) for e in s.form.getlist("events")],
        "owner_id": text(s, "owner_id"),
        "active": s.form.get("active") == "on",
    }


def _notice(s: Screen) -> str | None:
    key = s.params.get("notice", "")
    return NOTICES[key].render(s.locale) if key in NOTICES else None


def _status_labels(s: Screen) -> dict[str, str]:
    return {code: label.render(s.locale) for code, label in STATUS_LABELS.items()}


def _event_text(s: Screen, events: list[str]) -> str:
    separator = "、" if s.locale.startswith("zh") else ", "
    return separator.join(EVENT_LABELS[e].render(s.locale) for e in events if e in EVENT_LABELS)


@admin_screen
def endpoint_list(s: Screen) -> Response:
    rows = _service(s).list_endpoints(s.actor)
    titles = {e.name: e.title(s.locale) for e in s.platform.registry.entities()}
    for row in rows:
        row["entity_title"] = titles.get(row["entity"], row["entity"])
        row["event_text"] = _event_text(s, row["events"])
    return s.render(f"{TEMPLATE_DIR}/list.html", endpoints=rows, notice=_notice(s),
                    status_labels=_status_labels(s))  # fmt: skip


@admin_screen
def endpoint_new(s: Screen) -> Response:
    if s.request.method == "GET":
        values = {"events": ["created", "updated"], "active": True, "owner_id": s.actor.user_id}
        return s.render(f"{TEMPLATE_DIR}/form.html", values=values, errors={}, endpoint=None,
                        **_choices(s))  # fmt: skip
    values = _form_values(s)
    try:
        created = _service(s).create(s.actor, values)
    except ValidationFailed as error:
        return s.render(f"{TEMPLATE_DIR}/form.html", status=error.status, values=values,
                        errors=field_messages(s, error), endpoint=None, **_choices(s))  # fmt: skip
    return s.redirect(f"/admin/webhooks/{created['id']}?notice=created")


@admin_screen
def endpoint_page(s: Screen) -> Response:
    webhook_id = path_id(s)
    service = _service(s)
    endpoint = service.endpoint(s.actor, webhook_id)
    if s.request.method == "GET":
        recent, _more = service.deliveries(s.actor, webhook_id, limit=5)
        return s.render(f"{TEMPLATE_DIR}/form.html", values=endpoint, errors={},
                        endpoint=endpoint, recent=recent, notice=_notice(s),
                        status_labels=_status_labels(s), **_choices(s))  # fmt: skip
    values = _form_values(s)
    try:
        service.update(s.actor, webhook_id, values)
    except ValidationFailed as error:
        return s.render(f"{TEMPLATE_DIR}/form.html", status=error.status, values=values,
                        errors=field_messages(s, error), endpoint=endpoint, recent=[],
                        status_labels=_status_labels(s), **_choices(s))  # fmt: skip
    return s.redirect(f"/admin/webhooks/{webhook_id}?notice=saved")


@admin_screen
def rotate(s: Screen) -> Response:
    webhook_id = path_id(s)
    _service(s).rotate_secret(s.actor, webhook_id)
    return s.redirect(f"/admin/webhooks/{webhook_id}?notice=rotated#secret")


@admin_screen
def set_active(s: Screen) -> Response:
    webhook_id = path_id(s)
    active = text(s, "active") == "on"
    _service(s).set_active(s.actor, webhook_id, active)
    notice = "activated" if active else "deactivated"
    return s.redirect(f"/admin/webhooks/{webhook_id}?notice={notice}")


@admin_screen
def send_test(s: Screen) -> Response:
    webhook_id = path_id(s)
    _service(s).send_test(s.actor, webhook_id)
    return s.redirect(f"/admin/webhooks/{webhook_id}/deliveries?notice=tested")


@admin_screen
def delete(s: Screen) -> Response:
    _service(s).delete(s.actor, path_id(s))
    return s.redirect("/admin/webhooks?notice=deleted")


@admin_screen
def delivery_log(s: Screen) -> Response:
    webhook_id = path_id(s)
    service = _service(s)
    endpoint = service.endpoint(s.actor, webhook_id)
    status = s.params.get("status", "").strip()
    before_raw = s.params.get("before", "").strip()
    before = int(before_raw) if before_raw.isdigit() else None
    errors: dict[str, str] = {}
    try:
        rows, more = service.deliveries(s.actor, webhook_id, status=status or None, before=before)
    except GuanxiError as error:
        errors = field_messages(s, error)
        rows, more = [], False
    next_url = url_with(s.params, before=rows[-1]["id"], notice=None) if more and rows else None
    return s.render(f"{TEMPLATE_DIR}/deliveries.html", status=400 if errors else 200,
                    endpoint=endpoint, deliveries=rows, filters={"status": status},
                    statuses=STATUSES, status_labels=_status_labels(s), errors=errors,
                    next_url=next_url, notice=_notice(s),
                    first_url=url_with(s.params, before=None, notice=None) if before else None,
                    )  # fmt: skip


@admin_screen
def delivery_page(s: Screen) -> Response:
    found = _service(s).delivery(s.actor, path_id(s))
    try:
        body = json.dumps(json.loads(found["body"]), ensure_ascii=False, indent=2)
    except ValueError:
        body = found["body"]
    return s.render(f"{TEMPLATE_DIR}/delivery.html", delivery=found, body=body,
                    status_labels=_status_labels(s))  # fmt: skip


@admin_screen
def redeliver(s: Screen) -> Response:
    service = _service(s)
    found = service.delivery(s.actor, path_id(s))
    service.redeliver(s.actor, found["id"])
    return s.redirect(f"/admin/webhooks/{found['webhook_id']}/deliveries?notice=redelivered")


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/webhooks", endpoint_list),
        Route("/admin/webhooks/new", endpoint_new, methods=["GET", "POST"]),
        Route("/admin/webhooks/deliveries/{id:int}", delivery_page),
        Route("/admin/webhooks/deliveries/{id:int}/redeliver", redeliver, methods=["POST"]),
        Route("/admin/webhooks/{id:int}", endpoint_page, methods=["GET", "POST"]),
        Route("/admin/webhooks/{id:int}/rotate", rotate, methods=["POST"]),
        Route("/admin/webhooks/{id:int}/active", set_active, methods=["POST"]),
        Route("/admin/webhooks/{id:int}/test", send_test, methods=["POST"]),
        Route("/admin/webhooks/{id:int}/delete", delete, methods=["POST"]),
        Route("/admin/webhooks/{id:int}/deliveries", delivery_log),
    ]
