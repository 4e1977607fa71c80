"""Customer grading (SABC, RFM; SFA-11) and rep activity (SFA-17): the fields added to
customers, the grading settings and nightly job, and the two screens."""

from __future__ import annotations

from typing import Any

from guanxi_sfa.insight import fields, grading, rules


def extensions() -> list[dict[str, Any]]:
    return fields.EXTENSIONS


def settings() -> dict[str, Any]:
    return rules.SETTINGS


def jobs() -> list[dict[str, Any]]:
    return [{"name": grading.JOB, "every": "daily", "at": "03:00", "run": grading.run_job,
             "timeout": 3600}]  # fmt: skip


def routes() -> list[Any]:
    from guanxi_sfa.insight import screens  # the web layer, with the app

    return screens.routes()


def menu(platform: Any, actor: Any, access: Any) -> list[dict[str, Any]]:
    from guanxi_sfa.insight.screens import may_grade

    items = []
    if access.allows("opportunity", "view"):
        items.append({"href": "/sfa/activity", "position": 32,
                      "label": {"zh-CN": "销售活动", "en": "Rep activity"}})  # fmt: skip
    if may_grade(access):
        items.append({"href": "/sfa/grading", "position": 33,
                      "label": {"zh-CN": "客户分级", "en": "Customer grading"}})  # fmt: skip
    return items
