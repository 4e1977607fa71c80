"""DATA-08 on the screens: the side-by-side comparison, the POST that merges (CSRF-checked),
errors shown on the page with a 4xx, and the two ways in: the list's bulk "merge" and the
detail page's action when a duplicate rule matches (UI-03, UI-04, PERM-03)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.errors import NotFound
from guanxi.store.system_tables import merge_log


def merge_url(*ids: Any, entity: str = "customer") -> str:
    return f"/duplicates/merge/{entity}?ids=" + ",".join(str(i) for i in ids)


def checked(html: str, name: str) -> str | None:
    """The value of the checked radio called `name`."""
    for tag in re.findall(r"<input[^>]*>", html):
        if f'name="{name}"' in tag and "checked" in tag:
            found = re.search(r'value="([^"]*)"', tag)
            return found.group(1) if found else None
    return None


def merges(platform: Any) -> int:
    with platform.db.read() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(merge_log)).scalar())


def test_comparison_shows_the_records_side_by_side(org, login):
    """The oldest record is kept by default, differing fields have a radio per record (the
    kept record's value chosen), equal ones are folded away, hidden fields never appear, and
    each record's related records are counted."""
    east, east2 = org.customers["east"], org.customers["east2"]
    manager = login("manager")
    page = manager.get(merge_url(east2, east))
    assert page.status_code == 200, page.text
    html = page.text
    assert "东海重工" in html and "东岳精密" in html
    assert checked(html, "survivor") == str(east)  # created first
    assert checked(html, "field.name") == str(east)
    assert 'name="field.source"' not in html  # the same in both: folded, nothing to choose
    assert re.search(r"<details[^>]*data-merge-same", html)
    assert 'data-field="source"' in html  # ...but still listed there
    assert "底价八折内部评估" not in html and 'data-field="remarks"' not in html  # hidden field
    related = re.findall(r'<tr data-related="\d+">(.*?)</tr>', html, re.S)
    assert any("联系人" in row and row.count(">1</td>") == 2 for row in related), related


def test_choosing_another_record_to_keep_redraws_the_choices(org, login):
    east, east2 = org.customers["east"], org.customers["east2"]
    manager = login("manager")
    fragment = manager.htmx_get(merge_url(east, east2) + f"&survivor={east2}")
    assert fragment.status_code == 200
    assert 'id="merge-form"' in fragment.text
    assert "<html" not in fragment.text
    assert checked(fragment.text, "survivor") == str(east2)
    assert checked(fragment.text, "field.name") == str(east2)


def test_post_merges_and_lands_on_the_survivor_with_a_notice(org, login, web_platform):
    east, east2 = org.customers["east"], org.customers["east2"]
    manager = login("manager")
    page = manager.get(merge_url(east, east2))
    versions = dict(re.findall(r'name="version\.(\d+)" value="(\d+)"', page.text))
    answer = manager.post(
        merge_url(east, east2).split("?")[0],
        {"ids": f"{east},{east2}", "survivor": str(east), "field.name": str(east2),
         "field.interests": str(east2),
         **{f"version.{k}": v for k, v in versions.items()}},
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/r/customer/{east}?notice=merged"
    detail = manager.get(answer.headers["location"])
    assert detail.status_code == 200 and 'class="notice"' in detail.text
    kept = org.stored("customer", east)
    assert kept["name"] == "东岳精密" and kept["interests"].endswith("-east2")
    try:
        org.stored("customer", east2)
        raise AssertionError("the merged-away record is still there")
    except NotFound:
        pass
    assert org.stored("contact", org.contacts["east2"])["customer"] == east
    history = manager.get(f"/r/customer/{east}/history")
    assert 'data-history-op="merge"' in history.text


def test_post_without_csrf_token_is_refused(org, login, web_platform):
    east, east2 = org.customers["east"], org.customers["east2"]
    manager = login("manager")
    answer = manager.client.post(
        "/duplicates/merge/customer", data={"ids": f"{east},{east2}", "survivor": str(east)}
    )
    assert answer.status_code == 403
    assert merges(web_platform) == 0
    assert org.stored("customer", east2)["id"] == east2


def test_bad_ids_answer_4xx(org, login, web_platform):
    east, north = org.customers["east"], org.customers["north"]
    manager = login("manager")
    for url, status in (
        (merge_url(east), 422),
        (merge_url(east, east), 422),
        (merge_url(east, "abc"), 422),
        ("/duplicates/merge/customer", 422),
        (merge_url(east, f"contact:{org.contacts['east']}"), 422),
        (merge_url(east, 999999), 404),
        (merge_url(east, north), 404),  # outside the manager's departments
        (merge_url(1, 2, entity="nothing"), 404),
    ):
        answer = manager.get(url)
        assert answer.status_code == status, (url, answer.status_code)
        assert "Traceback" not in answer.text
    rep = login("rep_east")  # deleting customers needs approval: no merging
    assert rep.get(merge_url(east, org.customers["east2"])).status_code == 403


def test_errors_are_shown_on_the_page_with_4xx(org, login, web_platform):
    east, east2 = org.customers["east"], org.customers["east2"]
    manager = login("manager")
    base = {"ids": f"{east},{east2}", "survivor": str(east)}
    refused = manager.post("/duplicates/merge/customer", {**base, "field.name": "999999"})
    assert refused.status_code == 422
    assert "data-merge-errors" in refused.text and 'data-field="name"' in refused.text
    hidden = manager.post("/duplicates/merge/customer", {**base, "field.remarks": str(east2)})
    assert hidden.status_code == 422 and "底价八折内部评估" not in hidden.text
    no_survivor = manager.post("/duplicates/merge/customer", {"ids": f"{east},{east2}"})
    assert no_survivor.status_code == 422 and "data-merge-errors" in no_survivor.text
    stale = manager.post("/duplicates/merge/customer", {**base, f"version.{east2}": "0"})
    assert stale.status_code == 409 and "data-merge-errors" in stale.text
    assert merges(web_platform) == 0


def test_bulk_merge_opens_the_comparison_for_two_or_three_rows(org, login):
    east, east2, shanghai = (org.customers[k] for k in ("east", "east2", "shanghai"))
    manager = login("manager")
    listing = manager.get("/r/customer")
    assert 'value="merge"' in listing.text and "data-bulk-merge" in listing.text
    answer = manager.post("/r/customer/bulk", [("action", "merge"), ("ids", str(east)),
                                               ("ids", str(east2))], htmx=True)  # fmt: skip
    assert answer.status_code == 204
    assert answer.headers["hx-redirect"] == merge_url(east, east2)
    one = manager.post("/r/customer/bulk", [("action", "merge"), ("ids", str(east))], htmx=True)
    assert one.status_code == 400 and 'id="list-notice"' in one.text
    four = [("ids", str(i)) for i in org.customers.values()][:4]
    assert manager.post("/r/customer/bulk", [("action", "merge"), *four],
                        htmx=True).status_code == 400  # fmt: skip
    three = manager.post("/r/customer/bulk", [("action", "merge"), ("ids", str(east)),
                                              ("ids", str(east2)), ("ids", str(shanghai))])  # fmt: skip
    assert three.status_code == 303 and three.headers["location"] == merge_url(
        east, east2, shanghai
    )
    rep = login("rep_east")  # contacts: no delete right; customers: deletion needs approval
    assert "data-bulk-merge" not in rep.get("/r/contact").text
    assert "data-bulk-merge" not in rep.get("/r/customer").text
    assert "data-bulk-merge" in rep.get("/r/followup").text  # their own, deleted directly


def test_detail_page_offers_merge_when_a_rule_finds_duplicates(org, login, web_platform):
    platform = web_platform
    east = org.customers["east"]
    manager = login("manager")
    assert "/duplicates/merge/" not in manager.get(f"/r/customer/{east}").text
    copy = platform.records.create(
        org.actor("rep_east2"),
        "customer",
        {"name": "东海重工有限公司", "company": "东海", "source": "website"},
    )
    platform.duplicates.save(Actor.system(), {"name": "名称", "entity": "customer",
                                              "action": "warn",
                                              "fields": [{"field": "name",
                                                          "method": "normalized"}]})  # fmt: skip
    platform.jobs.run_due()
    detail = manager.get(f"/r/customer/{east}")
    assert f'href="{merge_url(east, copy["id"])}"' in detail.text.replace("&amp;", "&")
    rep = login("rep_east")  # cannot merge customers: no such button for them
    assert "/duplicates/merge/" not in rep.get(f"/r/customer/{east}").text
