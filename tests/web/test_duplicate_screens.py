"""DATA-07 on the screens: a warning lists the matched record and may be confirmed; "first
entered owns" names the owner and lets the user ask them to share (a notification)."""

from __future__ import annotations

import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.store.system_tables import notification
from tests.web.test_record_screens import form_of, names

NEW = {"name": "华为技术（中国）有限公司", "company": "华为", "source": "website"}


def test_warning_lists_the_match_and_confirming_saves(org, login, web_platform):
    platform = web_platform
    first = platform.records.create(org.actor("rep_east"), "customer",
                                    {"name": "华为技术有限公司", "company": "华为",
                                     "source": "website"})  # fmt: skip
    by_name = [{"field": "name", "method": "normalized"}]
    platform.duplicates.save(Actor.system(), {"name": "名称", "entity": "customer",
                                              "action": "warn", "fields": by_name})  # fmt: skip
    platform.jobs.run_due()
    rep = login("rep_east")
    warned = rep.post("/r/customer/new", form_of(NEW))
    assert warned.status_code == 422
    assert f'data-duplicate="customer:{first["id"]}"' in warned.text
    assert 'name="_confirm_duplicates"' in warned.text
    assert names(platform, "customer").count("华为技术（中国）有限公司") == 0
    saved = rep.post("/r/customer/new", [*form_of(NEW), ("_confirm_duplicates", "1")])
    assert saved.status_code == 303
    assert "华为技术（中国）有限公司" in names(platform, "customer")


def test_owner_rule_offers_a_share_request_that_notifies_the_owner(org, login, web_platform):
    platform = web_platform
    first = platform.records.create(org.actor("rep_east"), "customer",
                                    {"name": "东方电气", "company": "东方", "source": "website",
                                     "mobile": "13722223333"})  # fmt: skip
    platform.duplicates.save(Actor.system(), {"name": "手机", "entity": "customer",
                                              "action": "owner",
                                              "fields": [{"field": "mobile"}]})  # fmt: skip
    platform.jobs.run_due()
    rep = login("rep_north")
    refused = rep.post("/r/customer/new", form_of({"name": "东方电气集团", "company": "东方",
                                                   "source": "website",
                                                   "mobile": "13722223333"}))  # fmt: skip
    assert refused.status_code == 422
    assert f'value="customer:{first["id"]}"' in refused.text
    assert 'name="_confirm_duplicates"' not in refused.text  # an owner rule is not confirmable
    asked = rep.post("/duplicates/share-request", {"_share": f"customer:{first['id']}"})
    assert asked.status_code == 200 and "data-share-sent" in asked.text
    with platform.db.read() as connection:
        sent = connection.execute(
            sa.select(notification.c.user_id, notification.c.link).where(
                notification.c.kind == "share_request"
            )
        ).all()
    assert sent == [(org.users["rep_east"], f"/r/customer/{first['id']}")]
