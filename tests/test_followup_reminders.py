"""A planned next follow-up becomes a task, the customer's next date and a due reminder
(DATA-16, DATA-17), through the record service only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from guanxi import clock, notifications
from guanxi.actor import Actor
from guanxi.core import Guanxi
from tests.org import Org, build_org


@pytest.fixture
def org(platform: Guanxi) -> Org:
    return build_org(platform)


def _iso(moment) -> str:  # naive UTC -> input the record service reads as UTC
    return moment.replace(microsecond=0).isoformat() + "Z"


def _tasks_of(org: Org, followup_id: int) -> list[dict]:
    return org.platform.records.query(
        Actor.system(), "task", {"field": "followup", "op": "eq", "value": followup_id}
    ).rows


def _reminders(org: Org, username: str) -> list[dict]:
    return [
        n for n in notifications.entries(org.platform.db, org.actor(username))
        if n["kind"] == "reminder"
    ]  # fmt: skip


def test_followup_with_next_time_creates_task_owned_by_rep_and_sets_customer_date(org):
    """DATA-16: next follow-up time -> a task for the rep, the customer's next date."""
    rep = org.actor("rep_east")
    due = clock.now_utc().replace(microsecond=0) + timedelta(days=2)
    followup = org.platform.records.create(rep, "followup", {
        "customer": org.customers["east"], "method": "visit", "content": "演示了新产品",
        "next_step": "发送报价单", "next_followup_at": _iso(due),
    })  # fmt: skip
    [task] = _tasks_of(org, followup["id"])
    assert task["owner_id"] == org.users["rep_east"]
    assert task["created_by"] == org.users["rep_east"]  # the author made it, under their rights
    assert task["due_at"] == due and task["customer"] == org.customers["east"]
    assert "发送报价单" in task["title"] and "东海重工" in task["title"]
    assert "演示了新产品" in task["description"]
    assert org.stored("customer", org.customers["east"])["next_followup_at"] == due
    # The rep sees their task through their own scope.
    assert org.platform.records.get(rep, "task", task["id"])["id"] == task["id"]


def test_reminder_shows_only_once_due(org):
    """DATA-17: the reminder waits in the notification table until its due time."""
    rep = org.actor("rep_east")
    later = clock.now_utc() + timedelta(hours=3)
    org.platform.records.create(rep, "followup", {
        "customer": org.customers["east"], "method": "phone", "content": "电话沟通",
        "next_followup_at": _iso(later),
    })  # fmt: skip
    assert _reminders(org, "rep_east") == []
    assert notifications.unread_count(org.platform.db, rep) == 0
    past = clock.now_utc() - timedelta(minutes=5)
    followup = org.platform.records.create(rep, "followup", {
        "customer": org.customers["east"], "method": "phone", "content": "再次电话",
        "next_step": "确认合同条款", "next_followup_at": _iso(past),
    })  # fmt: skip
    [task] = _tasks_of(org, followup["id"])
    [reminder] = _reminders(org, "rep_east")
    assert reminder["link"] == f"/r/task/{task['id']}"
    assert "确认合同条款" in reminder["title"]["zh-CN"]
    assert reminder["source_entity"] == "task" and reminder["source_id"] == task["id"]
    assert _reminders(org, "rep_north") == []  # only the owner is reminded


def test_changing_next_time_redates_the_task_instead_of_adding_one(org):
    """DATA-16: the update path moves the open task, its reminder and the customer's date."""
    rep = org.actor("rep_east")
    followup_id = org.followups["east"]  # made by build_org without a next time
    assert _tasks_of(org, followup_id) == []
    first = clock.now_utc().replace(microsecond=0) + timedelta(days=1)
    version = org.version("followup", followup_id)
    org.platform.records.update(
        rep, "followup", followup_id, {"next_followup_at": _iso(first)}, version=version
    )
    [task] = _tasks_of(org, followup_id)
    assert task["due_at"] == first
    moved = clock.now_utc().replace(microsecond=0) - timedelta(minutes=1)
    org.platform.records.update(
        rep, "followup", followup_id, {"next_followup_at": _iso(moved)}, version=version + 1
    )
    [task] = _tasks_of(org, followup_id)
    assert task["due_at"] == moved
    assert org.stored("customer", org.customers["east"])["next_followup_at"] == moved
    assert len(_reminders(org, "rep_east")) == 1  # the old reminder was replaced


def test_done_task_cancels_its_unread_reminder(org):
    """DATA-17: completing the task drops the reminder it no longer needs."""
    rep = org.actor("rep_east")
    past = clock.now_utc() - timedelta(minutes=1)
    followup = org.platform.records.create(rep, "followup", {
        "customer": org.customers["east"], "method": "wechat", "content": "微信沟通",
        "next_followup_at": _iso(past),
    })  # fmt: skip
    [task] = _tasks_of(org, followup["id"])
    assert len(_reminders(org, "rep_east")) == 1
    org.platform.records.update(rep, "task", task["id"], {"status": "done"},
                                version=task["version"])  # fmt: skip
    assert _reminders(org, "rep_east") == []


def test_service_agent_followup_still_dates_the_customer(org):
    """The customer's date is derived by the system: an agent may log a call, not edit customers."""
    agent = org.actor("agent")
    due = clock.now_utc().replace(microsecond=0) + timedelta(days=3)
    followup = org.platform.records.create(agent, "followup", {
        "customer": org.customers["north"], "method": "phone", "content": "售后回访",
        "next_followup_at": _iso(due),
    })  # fmt: skip
    [task] = _tasks_of(org, followup["id"])
    assert task["owner_id"] == org.users["agent"]
    assert org.stored("customer", org.customers["north"])["next_followup_at"] == due


def test_followup_without_next_time_makes_no_task(org):
    rep = org.actor("rep_east")
    followup = org.platform.records.create(rep, "followup", {
        "customer": org.customers["east"], "method": "email", "content": "发了资料",
    })  # fmt: skip
    assert _tasks_of(org, followup["id"]) == []
