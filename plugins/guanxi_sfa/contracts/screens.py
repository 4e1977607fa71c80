"""The contract and approval pages: a contract from a won deal, a record's approval (submit,
decide, history) and what waits for the current user. The pages read as the viewer and act
through `service` and `approvals`, which check the rights."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.api import Actor, EntityDef, FieldError, NotFound, PermissionDenied, ValidationFailed, _
from guanxi.web.display import Presenter
from guanxi.web.screen import Screen, screen
from guanxi_sfa.contracts import approvals, service

SUMMARY_FIELDS = ("number", "customer", "amount", "total", "status", "owner_id")
FORM_FIELDS = ("name", "amount", "signed_on", "start_on", "end_on", "payment_terms")
DONE = {
    "submitted": _("Submitted for approval"),
    "approved": _("Approved"),
    "rejected": _("Rejected"),
}
STATUS_TEXT = {"pending": _("Waiting"), "approved": _("Approved"), "rejected": _("Rejected")}


def routes() -> list[BaseRoute]:
    return [
        Route("/sfa/approvals", screen(waiting_page)),
        Route(
            "/sfa/approvals/{module}/{record_id:int}",
            screen(approval_page),
            methods=["GET", "POST"],
        ),  # fmt: skip
        Route(
            "/sfa/opportunities/{opportunity_id:int}/contract",
            screen(contract_page),
            methods=["GET", "POST"],
        ),  # fmt: skip
    ]


# -- record actions ------------------------------------------------------------------------------


def opportunity_actions(
    platform: Any, actor: Actor, record: dict[str, Any]
) -> list[dict[str, Any]]:
    if not service.is_won(platform, record):
        return []
    if not platform.records.access(actor).allows(service.MODULE, "create"):
        return []
    return [{"label": {"zh-CN": "创建合同", "en": "Create contract"},
             "href": f"/sfa/opportunities/{record['id']}/contract"}]  # fmt: skip


def approval_actions(
    platform: Any, actor: Actor, entity: EntityDef, record: dict[str, Any]
) -> list[dict[str, Any]]:
    """One entry to the record's approval page, named for what the actor can do there."""
    access = platform.records.access(actor)
    code = record.get(approvals.FIELD) or approvals.NONE
    if code == approvals.PENDING and access.allows(entity.name, approvals.RIGHT):
        label = {"zh-CN": "审批", "en": "Approve or reject"}
    elif code in (approvals.NONE, approvals.REJECTED) and access.allows(entity.name, "edit"):
        label = {"zh-CN": "提交审批", "en": "Submit for approval"}
    else:
        label = {"zh-CN": "审批记录", "en": "Approval history"}
    return [{"label": label, "href": approvals.page_link(entity.name, int(record["id"]))}]


# -- approval of one record ----------------------------------------------------------------------


def approval_page(s: Screen) -> Response:
    module = str(s.path_params["module"])
    record_id = int(s.path_params["record_id"])
    errors: list[FieldError] = []
    typed = {"reason": "", "comment": ""}
    if s.form is not None:
        action = str(s.form.get("action") or "")
        typed = {key: str(s.form.get(key) or "") for key in typed}
        try:
            if action == "submit":
                approvals.submit(s.platform, s.actor, module, record_id, typed["reason"])
            elif action in ("approve", "reject"):
                approvals.decide(s.platform, s.actor, module, record_id, action == "approve",
                                 typed["comment"])  # fmt: skip
            else:
                raise ValidationFailed([FieldError("action", "unknown", _("Unknown action"))])
        except ValidationFailed as error:
            errors = error.field_errors
        else:
            done = {"submit": "submitted", "approve": "approved"}.get(action, "rejected")
            return s.redirect(f"{approvals.page_link(module, record_id)}?done={done}")
    found = approvals.state(s.platform, s.actor, module, record_id)
    entity = found.entity
    mask = s.platform.records.access(s.actor).mask(entity)
    fields = [f for f in (entity.get_field(k) for k in SUMMARY_FIELDS)
              if f is not None and f.key in mask.levels]  # fmt: skip
    presenter = Presenter(s.platform, s.actor, entity, s.locale, mask).load([found.record], fields)
    notice = DONE.get(s.params.get("done", ""))
    return s.render(
        "guanxi_sfa/contracts/approval.html", status=422 if errors else 200, state=found,
        entity=entity, title=approvals.title_of(entity, found.record),
        summary=[(f, presenter.cell(f, found.record)) for f in fields],
        approval_label=_option_label(s, entity, found.approval), errors=errors,
        by_field={e.field: e for e in errors}, typed=typed,
        notice=s.label(notice) if notice else None,
        statuses={code: s.label(text) for code, text in STATUS_TEXT.items()},
    )  # fmt: skip


def _option_label(s: Screen, entity: EntityDef, code: str) -> str:
    field = entity.get_field(approvals.FIELD)
    option = next((o for o in (field.options if field else ()) if o.code == code), None)
    return s.label(option.label) if option else code


# -- what waits for me ---------------------------------------------------------------------------


def waiting_page(s: Screen) -> Response:
    modules = {e.name: e for e in approvals.available(s.platform)}
    access = s.platform.records.access(s.actor)
    if not any(access.allows(m, approvals.RIGHT) or access.allows(m, "view") for m in modules):
        raise NotFound(_("No such page"))
    waiting = approvals.waiting_for(s.platform, s.actor)
    mine = approvals.submitted_by(s.platform, s.actor)
    return s.render(
        "guanxi_sfa/contracts/approvals.html", waiting=waiting, mine=mine,
        modules={name: s.label(e.label) for name, e in modules.items()},
        statuses={code: s.label(text) for code, text in STATUS_TEXT.items()},
    )  # fmt: skip


# -- a contract from a won deal ------------------------------------------------------------------


def contract_page(s: Screen) -> Response:
    opportunity_id = int(s.path_params["opportunity_id"])
    records = s.platform.records
    if not records.access(s.actor).allows(service.MODULE, "create"):
        raise PermissionDenied(_("You may not create contracts"))
    deal = dict(records.get(s.actor, "opportunity", opportunity_id, log_view=False))
    if not service.is_won(s.platform, deal):
        raise ValidationFailed([FieldError("opportunity", "not_won", _(
            "A contract is created from a won opportunity"))])  # fmt: skip
    proposed = service.proposal(s.platform, s.actor, deal)
    form = {key: "" if proposed.get(key) is None else str(proposed[key]) for key in FORM_FIELDS}
    errors: list[FieldError] = []
    if s.form is not None:
        form = {key: str(s.form.get(key) or "").strip() for key in FORM_FIELDS}
        values = {key: value or None for key, value in form.items()}
        try:
            created = service.from_opportunity(s.platform, s.actor, opportunity_id, values)
        except ValidationFailed as error:
            errors = error.field_errors
        else:
            return s.redirect(f"/r/{service.MODULE}/{created['id']}")
    entity = s.platform.registry.get(service.MODULE)
    fields = [f for f in (entity.get_field(k) for k in FORM_FIELDS) if f is not None]
    deal_entity = s.platform.registry.get("opportunity")
    shown = [f for f in (deal_entity.get_field(k) for k in ("customer", "contact")) if f]
    presenter = Presenter(
        s.platform, s.actor, deal_entity, s.locale, records.access(s.actor).mask(deal_entity)
    ).load([deal], shown)
    return s.render(
        "guanxi_sfa/contracts/contract_form.html", status=422 if errors else 200, deal=deal,
        fields=fields, form=form, errors=errors, by_field={e.field: e for e in errors},
        deal_cells=[(f, presenter.cell(f, deal)) for f in shown],
    )  # fmt: skip
