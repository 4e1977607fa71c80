"""The record timeline (UI-07) with its follow-up (DATA-16), note (DATA-15) and attachment
(DATA-14) forms, over HTTP."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from guanxi import clock
from guanxi.actor import Actor
from guanxi.core import Guanxi
from guanxi.hookspecs import hookimpl
from guanxi.store.system_tables import attachment
from tests.web.conftest import SECRET


class TicketTimeline:
    """A tiny plugin contributing one item to every customer timeline."""

    @hookimpl
    def timeline_items(self, actor: Any, entity: Any, record: dict) -> list[dict] | None:
        if entity.name != "customer":
            return None
        return [{"at": datetime(2024, 3, 5, 6, 30), "kind": "ticket",
                 "title": {"zh-CN": "工单 #7 已解决", "en": "Ticket #7 solved"},
                 "href": "/tickets/7", "body": "<b>打印机</b>"}]  # fmt: skip


@pytest.fixture
def web_platform(make_platform: Any, tmp_path: Path) -> Guanxi:
    """Files go to this test's directory, 1 MB at most, so the limit is cheap to pass."""
    return make_platform(
        secret_key=SECRET,
        attachments_dir=tmp_path / "files",
        attachment_max_mb=1,
        plugins=[("ticket_timeline", TicketTimeline())],
    )


def timeline_url(org: Any, key: str = "east") -> str:
    return f"/r/customer/{org.customers[key]}"


def test_timeline_shows_followups_changes_and_plugin_items(org, login):
    """UI-07: one stream of follow-ups, changes and plugin items, newest first."""
    rep = login("rep_east")
    page = rep.htmx_get(timeline_url(org) + "/timeline")
    assert page.status_code == 200
    assert 'id="timeline-body"' in page.text
    assert "东海重工首次电话" in page.text  # the follow-up build_org made
    assert 'data-kind="change"' in page.text
    assert "工单 #7 已解决" in page.text and 'href="/tickets/7"' in page.text  # plugin item
    assert "<b>打印机</b>" not in page.text  # plugin text is escaped
    # The follow-up is newer than the plugin's 2024 ticket.
    assert page.text.index("东海重工首次电话") < page.text.index("工单 #7")
    assert "<html" not in page.text  # a fragment


def test_timeline_kind_tabs_filter_the_stream(org, login):
    rep = login("rep_east")
    followups = rep.htmx_get(timeline_url(org) + "/timeline?kind=followup")
    assert "东海重工首次电话" in followups.text and 'data-kind="change"' not in followups.text
    changes = rep.htmx_get(timeline_url(org) + "/timeline?kind=change")
    assert 'data-kind="change"' in changes.text and "东海重工首次电话" not in changes.text


def test_timeline_of_a_customer_out_of_scope_is_404(org, login):
    rep = login("rep_east")
    assert rep.htmx_get(timeline_url(org, "north") + "/timeline").status_code == 404
    assert rep.post(timeline_url(org, "north") + "/notes", {"content": "x", "_fields": "content"},
                    htmx=True).status_code == 404  # fmt: skip


def test_change_history_shows_old_and_new_values(org, login, web_platform):
    """UI-07 + DATA-05: changes read old -> new with option labels."""
    rep_actor = org.actor("rep_east")
    customer_id = org.customers["east"]
    web_platform.records.update(rep_actor, "customer", customer_id, {"industry": "it"},
                                version=org.version("customer", customer_id))  # fmt: skip
    page = login("rep_east").htmx_get(timeline_url(org) + "/timeline?kind=change")
    assert "信息技术" in page.text  # the option's label, not its code


def test_add_followup_with_next_time_shows_it_and_its_reminder_task(org, login, web_platform):
    """DATA-16: the form creates the follow-up; the reminder task appears in the stream."""
    rep = login("rep_east")
    due = (clock.to_local(clock.now_utc()) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    answer = rep.post(timeline_url(org) + "/followups", {
        "method": "visit", "content": "上门演示样机", "feedback": "很满意",
        "next_step": "寄送合同草稿", "next_followup_at": due,
        "_fields": ["method", "content", "feedback", "next_step", "next_followup_at"],
    }, htmx=True)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert "上门演示样机" in answer.text and "寄送合同草稿" in answer.text
    assert 'data-kind="task"' in answer.text
    rows = web_platform.records.query(
        org.actor("rep_east"), "followup",
        {"field": "content", "op": "contains", "value": "上门演示样机"},
    ).rows  # fmt: skip
    assert rows and rows[0]["customer"] == org.customers["east"]
    assert rows[0]["owner_id"] == org.users["rep_east"]


def test_add_followup_with_missing_content_answers_422_with_field_error(org, login):
    rep = login("rep_east")
    answer = rep.post(timeline_url(org) + "/followups",
                      {"method": "phone", "content": "", "_fields": ["method", "content"]},
                      htmx=True)  # fmt: skip
    assert answer.status_code == 422
    assert 'id="err-tl-fu-content"' in answer.text
    assert 'value="phone" selected' in answer.text  # what was typed stays


def test_add_note_and_csrf_refusal(org, login, web_platform):
    """DATA-15: a shared note lands on the customer; without the token nothing is stored."""
    rep = login("rep_east")
    refused = rep.client.post(timeline_url(org) + "/notes",
                              data={"content": "偷偷加的", "_fields": "content"})  # fmt: skip
    assert refused.status_code == 403
    answer = rep.post(timeline_url(org) + "/notes",
                      {"content": "客户偏好周三上午联系", "shared": "on",
                       "_fields": ["content", "shared"]}, htmx=True)  # fmt: skip
    assert answer.status_code == 200 and "客户偏好周三上午联系" in answer.text
    notes = web_platform.records.query(Actor.system(), "note").rows
    assert [n["content"] for n in notes] == ["客户偏好周三上午联系"]
    assert notes[0]["shared"] is True and notes[0]["customer"] == org.customers["east"]


def test_contact_timeline_links_the_followup_to_contact_and_customer(org, login, web_platform):
    rep = login("rep_east")
    url = f"/r/contact/{org.contacts['east']}"
    form = rep.htmx_get(url + "/timeline")
    assert 'data-form="followup"' in form.text and 'data-form="note"' not in form.text
    answer = rep.post(
        url + "/followups",
        {"method": "phone", "content": "联系人电话", "_fields": ["method", "content"]},
        htmx=True,
    )
    assert answer.status_code == 200 and "联系人电话" in answer.text
    row = web_platform.records.query(
        Actor.system(), "followup", {"field": "content", "op": "contains", "value": "联系人电话"}
    ).rows[0]
    assert row["contact"] == org.contacts["east"] and row["customer"] == org.customers["east"]


def test_attachment_upload_download_and_delete(org, login, web_platform, tmp_path):
    """DATA-14: stored under a random key with its hash; downloaded as an attachment."""
    rep = login("rep_east")
    content = "报价单 v1".encode() * 100
    answer = rep.client.post(
        timeline_url(org) + "/attachments",
        files={"file": ("报价单 2024.pdf", content, "text/html")},
        headers={"X-CSRF-Token": rep.csrf, "HX-Request": "true"},
    )
    assert answer.status_code == 200, answer.text
    assert "报价单 2024.pdf" in answer.text
    with web_platform.db.read() as connection:
        row = dict(connection.execute(attachment.select()).mappings().one())
    assert row["sha256"] == hashlib.sha256(content).hexdigest() and row["size"] == len(content)
    stored = list((tmp_path / "files").rglob("*"))
    assert all("报价单" not in p.name for p in stored)  # never the user's name on disk
    download = rep.get(f"/attachments/{row['id']}")
    assert download.status_code == 200 and download.content == content
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-type"] == "application/octet-stream"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E6%8A%A5%E4%BB%B7%E5%8D%95%202024.pdf" in disposition
    # Out of scope: another rep cannot download it or delete it (404, no confirmation).
    other = login("rep_north")
    assert other.get(f"/attachments/{row['id']}").status_code == 404
    assert other.post(f"/attachments/{row['id']}/delete", {}).status_code == 404
    # CSRF: no token, no delete.
    assert rep.client.post(f"/attachments/{row['id']}/delete").status_code == 403
    deleted = rep.post(f"/attachments/{row['id']}/delete", {}, htmx=True)
    assert deleted.status_code == 200 and "报价单 2024.pdf" not in deleted.text
    assert rep.get(f"/attachments/{row['id']}").status_code == 404
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []


def test_attachment_over_the_limit_is_refused_with_413_and_not_stored(org, login, web_platform,
                                                                      tmp_path):  # fmt: skip
    rep = login("rep_east")
    big = b"x" * (1024 * 1024 + 1)
    answer = rep.client.post(
        timeline_url(org) + "/attachments",
        files={"file": ("big.bin", big, "application/octet-stream")},
        headers={"X-CSRF-Token": rep.csrf, "HX-Request": "true"},
    )
    assert answer.status_code == 413
    assert "1 MB" in answer.text
    with web_platform.db.read() as connection:
        assert connection.execute(attachment.select()).first() is None
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []


def test_attachment_delete_needs_uploader_or_editor(org, login, web_platform):
    """An agent may view a rep's customer (and its files) but neither edit nor delete them."""
    rep = login("rep_east")
    rep.client.post(timeline_url(org) + "/attachments",
                    files={"file": ("a.txt", b"hello", "text/plain")},
                    headers={"X-CSRF-Token": rep.csrf})  # fmt: skip
    with web_platform.db.read() as connection:
        attachment_id = connection.execute(attachment.select()).mappings().one()["id"]
    agent = login("agent")
    assert agent.get(f"/attachments/{attachment_id}").status_code == 200
    page = agent.htmx_get(timeline_url(org) + "/timeline")
    assert 'data-form="attachment"' not in page.text and "tl-delete" not in page.text
    assert agent.post(f"/attachments/{attachment_id}/delete", {}, htmx=True).status_code == 403
    refused = agent.client.post(timeline_url(org) + "/attachments",
                                files={"file": ("b.txt", b"hi", "text/plain")},
                                headers={"X-CSRF-Token": agent.csrf})  # fmt: skip
    assert refused.status_code == 403


def test_timeline_times_are_shown_in_business_time(org, login):
    page = login("rep_east").htmx_get(timeline_url(org) + "/timeline")
    stamp = clock.to_local(datetime(2024, 3, 5, 6, 30).replace(tzinfo=UTC).replace(tzinfo=None))
    assert f"2024年3月5日 {stamp:%H:%M}" in page.text
