"""Admin screens for metadata (UI-09): modules, fields, layouts, stages, tags and numbering,
changed over HTTP by an admin and live in platform.registry for every user at once."""

from __future__ import annotations

import pytest

from tests.org import customer_input

CUSTOMER = "/admin/modules/customer"


def select_field_form(**changes):
    form = {
        "key": "grade",
        "type": "select",
        "label_zh": "客户等级",
        "label_en": "Grade",
        "required": "",
        "default": "",
        "section": "profile",
        "help_zh": "",
        "help_en": "",
        "opt-0-code": "a",
        "opt-0-zh": "甲",
        "opt-0-en": "A",
        "opt-0-color": "#2ea121",
        "opt-1-code": "b",
        "opt-1-zh": "乙",
        "opt-1-en": "B",
        "opt-1-color": "",
    }
    form.update(changes)
    return form


def test_admin_adds_a_select_field_that_a_rep_can_use_at_once(org, login, web_platform):
    """CORE-03, CORE-10, UI-09: the field exists for everyone without a restart."""
    admin = login("admin")
    form_page = admin.get(CUSTOMER + "/fields/new?type=select")
    assert form_page.status_code == 200 and 'name="opt-0-code"' in form_page.text
    added = admin.post(CUSTOMER + "/fields", select_field_form())
    assert added.status_code == 303, added.text
    assert added.headers["location"] == CUSTOMER + "#row-cf_grade"
    field = web_platform.registry.snapshot().entity("customer").get_field("cf_grade")
    assert field is not None and field.custom and field.section == "profile"
    assert [(o.code, o.label["en"], o.color) for o in field.options] == [
        ("a", "A", "#2ea121"),
        ("b", "B", None),
    ]
    listing = admin.get(CUSTOMER)
    assert 'id="row-cf_grade"' in listing.text and "客户等级" in listing.text
    rep = org.actor("rep_east")
    data = {**customer_input("east"), "name": "新客户", "mobile": "13700000001", "cf_grade": "乙"}
    del data["remarks"]  # hidden from sales reps (PERM-03)
    created = web_platform.records.create(rep, "customer", data)
    assert created["cf_grade"] == "b"


def test_field_form_errors_are_shown_next_to_the_field(org, login, web_platform):
    """UI-05: a duplicate key and a missing label re-show the form, nothing is stored."""
    admin = login("admin")
    assert admin.post(CUSTOMER + "/fields", select_field_form()).status_code == 303
    version = web_platform.registry.snapshot().version
    duplicate = admin.post(CUSTOMER + "/fields", select_field_form(label_zh="另一个"))
    assert duplicate.status_code == 400
    assert 'id="err-key"' in duplicate.text and "cf_grade" in duplicate.text
    assert 'value="另一个"' in duplicate.text  # what was typed is kept
    missing = admin.post(CUSTOMER + "/fields", select_field_form(key="other", label_zh=""))
    assert missing.status_code == 422 and 'id="err-label"' in missing.text
    no_options = admin.post(
        CUSTOMER + "/fields",
        {"key": "empty", "type": "select", "label_zh": "空", "opt-0-code": ""},
    )
    assert no_options.status_code == 422 and 'id="err-options"' in no_options.text
    bad_key = admin.post(CUSTOMER + "/fields", select_field_form(key="Bad Key"))
    assert bad_key.status_code == 400 and 'id="err-key"' in bad_key.text
    assert web_platform.registry.snapshot().version == version


def test_type_change_rerenders_only_the_form_body(org, login):
    admin = login("admin")
    body = admin.htmx_get(CUSTOMER + "/fields/new?type=reference&label_zh=合同")
    assert body.status_code == 200
    assert body.text.lstrip().startswith('<div id="field-form-body"')
    assert 'name="reference"' in body.text and 'value="合同"' in body.text


def test_edit_hide_show_and_reorder_fields(org, login, web_platform):
    """CORE-03: relabel a shipped field, hide it (column stays), show it, move it."""
    admin = login("admin")
    edit_page = admin.get(CUSTOMER + "/fields/website")
    assert edit_page.status_code == 200 and 'name="label_zh"' in edit_page.text
    saved = admin.post(
        CUSTOMER + "/fields/website",
        {"label_zh": "官网", "label_en": "Homepage", "required": "on", "section": "contact"},
    )
    assert saved.status_code == 303, saved.text
    website = web_platform.registry.get("customer").field("website")
    assert website.label == {"zh-CN": "官网", "en": "Homepage"} and website.required

    assert admin.post(CUSTOMER + "/fields/website/hide", {}).status_code == 303
    entity = web_platform.registry.get("customer")
    assert "website" not in [f.key for f in entity.visible_fields]
    assert entity.get_field("website") is not None  # hidden, not deleted
    assert "In use" in admin.get(CUSTOMER + "?lang=en").text
    assert admin.post(CUSTOMER + "/fields/website/show", {}).status_code == 303
    assert "website" in [f.key for f in web_platform.registry.get("customer").visible_fields]

    def order():
        entity = web_platform.registry.get("customer")
        return [f.key for f in sorted(entity.fields, key=lambda f: f.position) if not f.system]

    before = order()
    assert before[:2] == ["name", "company"]
    assert admin.post(CUSTOMER + "/fields/company/move", {"direction": "up"}).status_code == 303
    assert order()[:2] == ["company", "name"]
    assert admin.post(CUSTOMER + "/fields/company/move", {"direction": "down"}).status_code == 303
    assert order() == before
    assert admin.post(CUSTOMER + "/fields/id/hide", {}).status_code == 404  # system field


def test_label_is_escaped_everywhere(org, login, web_platform):
    admin = login("admin")
    script = "<script>alert(1)</script>"
    answer = admin.post(
        CUSTOMER + "/fields", select_field_form(label_zh=script, **{"opt-0-zh": script})
    )
    assert answer.status_code == 303
    for url in (CUSTOMER, CUSTOMER + "/fields/cf_grade", CUSTOMER + "/stages"):
        page = admin.get(url)
        assert script not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in admin.get(CUSTOMER).text
    bad = admin.post("/admin/modules", {"name": "x<b>", "label_zh": script})
    assert bad.status_code == 400 and script not in bad.text


def test_pipeline_edit_is_live_in_the_registry(org, login, web_platform):
    """CORE-06: probability, required fields and transitions of the customer stages."""
    admin = login("admin")
    page = admin.get(CUSTOMER + "/stages")
    assert page.status_code == 200 and 'name="st-0-code" value="potential"' in page.text
    seen = page.text.split('name="seen" value="')[1].split('"')[0]
    pipeline = web_platform.registry.get("customer").pipelines["stage"]
    form: list[tuple[str, str]] = [("seen", seen)]
    for n, stage in enumerate(pipeline.stages):
        form += [
            (f"st-{n}-code", stage.code),
            (f"st-{n}-zh", stage.label["zh-CN"]),
            (f"st-{n}-en", stage.label.get("en", "")),
            (f"st-{n}-probability", "40" if stage.code == "intention" else str(stage.probability)),
            (f"st-{n}-category", stage.category),
        ]
        if stage.code == "intention":
            form += [(f"st-{n}-required", "industry"), (f"st-{n}-required", "mobile")]
            form += [(f"st-{n}-next", "negotiating"), (f"st-{n}-next", "lost")]
        if stage.code == "lost":
            form.append((f"st-{n}-reason", "on"))
    saved = admin.post(CUSTOMER + "/stages/stage", form)
    assert saved.status_code == 303, saved.text
    stages = web_platform.registry.get("customer").pipelines["stage"].by_code
    assert stages["intention"].probability == 40
    assert stages["intention"].required_fields == ("industry", "mobile")
    assert stages["intention"].transitions == ("negotiating", "lost")
    assert stages["potential"].transitions is None  # none checked: any stage may follow
    assert stages["lost"].reason_required
    # The old fingerprint is stale now: a second save over it is refused.
    stale = admin.post(CUSTOMER + "/stages/stage", form)
    assert stale.status_code == 409
    assert (
        web_platform.registry.get("customer").pipelines["stage"].by_code["intention"].probability
        == 40
    )
    # An unknown transition target is named, nothing changes.
    fresh = admin.get(CUSTOMER + "/stages").text.split('name="seen" value="')[1].split('"')[0]
    bad = [("seen", fresh), ("st-0-code", "a"), ("st-0-zh", "甲"), ("st-0-probability", "x")]
    answer = admin.post(CUSTOMER + "/stages/stage", bad)
    assert answer.status_code == 422 and "0" in answer.text
    assert "potential" in web_platform.registry.get("customer").pipelines["stage"].by_code


def test_layout_sections_and_related_lists(org, login, web_platform):
    """CORE-08: sections with labels and order; related lists chosen from referring modules."""
    admin = login("admin")
    page = admin.get(CUSTOMER + "/layout")
    assert page.status_code == 200 and 'value="contact:customer"' in page.text
    seen = page.text.split('name="seen" value="')[1].split('"')[0]
    form = {
        "seen": seen,
        "sec-0-code": "basic",
        "sec-0-zh": "基本信息",
        "sec-0-en": "Basics",
        "sec-0-order": "20",
        "sec-1-code": "extra",
        "sec-1-zh": "补充",
        "sec-1-en": "",
        "sec-1-order": "10",
        "rel-0-code": "followup:customer",
        "rel-0-show": "on",
        "rel-0-order": "1",
        "rel-1-code": "contact:customer",
        "rel-1-show": "on",
        "rel-1-order": "2",
        "rel-2-code": "task:customer",
        "rel-2-order": "3",
    }
    saved = admin.post(CUSTOMER + "/layout", form)
    assert saved.status_code == 303, saved.text
    detail = web_platform.registry.get("customer").layouts["detail"]
    assert [s["code"] for s in detail["sections"]] == ["extra", "basic"]
    assert detail["related"] == [
        {"entity": "followup", "field": "customer"},
        {"entity": "contact", "field": "customer"},
    ]
    assert admin.post(CUSTOMER + "/layout", form).status_code == 409
    bad = admin.get(CUSTOMER + "/layout").text.split('name="seen" value="')[1].split('"')[0]
    answer = admin.post(
        CUSTOMER + "/layout", {"seen": bad, "sec-0-code": "x", "sec-0-zh": "", "sec-0-order": "one"}
    )
    assert answer.status_code == 422 and 'id="err-sections"' in answer.text


def test_tag_group_and_tag_are_added(org, login, web_platform):
    """CORE-07"""
    admin = login("admin")
    group = admin.post(
        CUSTOMER + "/tags/groups",
        {"code": "industry_tags", "label_zh": "行业", "label_en": "Industry", "kind": "attribute"},
    )
    assert group.status_code == 303, group.text
    tag = admin.post(
        CUSTOMER + "/tags/groups/industry_tags/tags",
        {"code": "auto", "label_zh": "汽车", "label_en": "Automotive", "color": "#d83931"},
    )
    assert tag.status_code == 303, tag.text
    tags = web_platform.admin.tags("customer")
    assert any(t["code"] == "auto" and t["group"] == "industry_tags" for t in tags)
    page = admin.get(CUSTOMER + "/tags")
    assert "汽车" in page.text and 'id="group-industry_tags"' in page.text
    again = admin.post(CUSTOMER + "/tags/groups", {"code": "industry_tags", "label_zh": "行业"})
    assert again.status_code == 422 and 'id="err-g-code"' in again.text
    bad_color = admin.post(
        CUSTOMER + "/tags/groups/industry_tags/tags",
        {"code": "x", "label_zh": "x", "color": "red;background:url(x)"},
    )
    assert bad_color.status_code == 422
    assert (
        admin.post(CUSTOMER + "/tags/groups/nope/tags", {"code": "x", "label_zh": "x"}).status_code
        == 404
    )
    # Relabel and recolour, then remove: records lose the tag with it (CORE-07, UI-09).
    customer = org.customers["east"]
    version = org.version("customer", customer)
    web_platform.records.update(
        org.admin, "customer", customer, {"tags": ["auto"]}, version=version
    )
    changed = admin.post(
        CUSTOMER + "/tags/items/auto",
        {"label_zh": "汽车行业", "label_en": "Cars", "color": "#2ea121"},
    )
    assert changed.status_code == 303, changed.text
    stored = next(t for t in web_platform.admin.tags("customer") if t["code"] == "auto")
    assert stored["label"] == {"zh-CN": "汽车行业", "en": "Cars"} and stored["color"] == "#2ea121"
    no_label = admin.post(CUSTOMER + "/tags/items/auto", {"label_zh": "", "color": ""})
    assert no_label.status_code == 422
    assert login("rep_east").post(CUSTOMER + "/tags/items/auto/remove", {}).status_code == 403
    removed = admin.post(CUSTOMER + "/tags/items/auto/remove", {})
    assert removed.status_code == 303
    assert not any(t["code"] == "auto" for t in web_platform.admin.tags("customer"))
    assert org.stored("customer", customer)["tags"] == []
    assert admin.post(CUSTOMER + "/tags/items/auto/remove", {}).status_code == 404


def test_custom_module_is_created_and_its_page_works(org, login, web_platform):
    """CORE-04, CORE-09"""
    admin = login("admin")
    listing = admin.get("/admin/modules")
    assert listing.status_code == 200 and "/admin/modules/customer" in listing.text
    created = admin.post(
        "/admin/modules",
        {
            "name": "contract",
            "label_zh": "合同",
            "label_en": "Contract",
            "title_key": "title",
            "title_label_zh": "合同名称",
            "number_format": "HT{yyyy}-{seq:05d}",
        },
    )
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/admin/modules/contract"
    entity = web_platform.registry.get("contract")
    assert entity.title_field == "title" and entity.number_format == "HT{yyyy}-{seq:05d}"
    for tab in ("", "/layout", "/stages", "/tags", "/numbering"):
        assert admin.get("/admin/modules/contract" + tab).status_code == 200, tab
    numbering = admin.get("/admin/modules/contract/numbering")
    assert "-00001<" in numbering.text
    preview = admin.htmx_get("/admin/modules/contract/numbering?format=X{seq:03d}")
    assert "X001" in preview.text
    broken = admin.htmx_get("/admin/modules/contract/numbering?format=X{nope}")
    assert "seq" in broken.text
    bad = admin.post("/admin/modules/contract/numbering", {"format": "HT{month}"})
    assert bad.status_code == 400 and 'id="err-format"' in bad.text
    assert web_platform.registry.get("contract").number_format == "HT{yyyy}-{seq:05d}"
    saved = admin.post("/admin/modules/contract/numbering", {"format": "HTX{seq:04d}"})
    assert saved.status_code == 303  # CORE-05: live for the next record
    assert web_platform.registry.get("contract").number_format == "HTX{seq:04d}"
    duplicate = admin.post("/admin/modules", {"name": "contract", "label_zh": "合同"})
    assert duplicate.status_code == 400 and 'id="err-name"' in duplicate.text
    assert admin.get("/admin/modules/nothing").status_code == 404


ADMIN_GETS = (
    "/admin/modules",
    CUSTOMER,
    CUSTOMER + "/fields/new",
    CUSTOMER + "/fields/name",
    CUSTOMER + "/layout",
    CUSTOMER + "/stages",
    CUSTOMER + "/tags",
    CUSTOMER + "/numbering",
)
ADMIN_POSTS = (
    "/admin/modules",
    CUSTOMER + "/numbering",
    CUSTOMER + "/fields",
    CUSTOMER + "/fields/name",
    CUSTOMER + "/fields/name/hide",
    CUSTOMER + "/fields/name/move",
    CUSTOMER + "/layout",
    CUSTOMER + "/stages/stage",
    CUSTOMER + "/tags/groups",
    CUSTOMER + "/tags/groups/g/tags",
)


@pytest.mark.parametrize("username", ["rep_east", "manager"])
def test_non_admins_are_refused_on_every_route(org, login, web_platform, username):
    """PERM-02, UI-09"""
    user = login(username)
    version = web_platform.registry.snapshot().version
    for url in ADMIN_GETS:
        assert user.get(url).status_code == 403, url
    for url in ADMIN_POSTS:
        assert (
            user.post(url, select_field_form(name="x", label_zh="x", code="g")).status_code == 403
        ), url
    assert web_platform.registry.snapshot().version == version


def test_posts_without_csrf_token_are_refused(org, login, web_platform):
    """PERM-09"""
    admin = login("admin")
    version = web_platform.registry.snapshot().version
    for url in ADMIN_POSTS:
        assert admin.client.post(url, data=select_field_form()).status_code == 403, url
    assert web_platform.registry.snapshot().version == version
    assert web_platform.registry.get("customer").get_field("cf_grade") is None
