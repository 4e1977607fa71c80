"""The kanban board (UI-06): columns per stage, moves through the record service with the
pipeline's rules (CORE-06), reasons, stale versions and scopes."""

from __future__ import annotations

import re

JSON = {"Accept": "application/json"}


def move(client, org, key: str, to: str, version: int | None = None, **extra):
    customer_id = org.customers[key]
    data = {"field": "stage", "to": to, "from": "potential",
            "version": version if version is not None else org.version("customer", customer_id),
            **extra}  # fmt: skip
    return client.post(f"/r/customer/{customer_id}/move", data, headers=JSON)


def test_board_shows_a_column_per_stage_with_counts_and_cards(org, login):
    """UI-06: columns follow the pipeline; a rep sees only their own customers."""
    page = login("rep_east").get("/r/customer/board")
    assert page.status_code == 200
    stages = re.findall(r'<section class="kanban-column" data-stage="([a-z]+)"', page.text)
    assert stages == ["potential", "intention", "negotiating", "deal", "lost"]
    assert "东海重工" in page.text and "北辰机电" not in page.text
    potential = page.text.split('data-stage="potential"')[1].split("</header>")[0]
    assert '<span class="col-count" data-count>1</span>' in potential
    assert 'src="/static/js/kanban.js"' in page.text
    assert 'name="to"' in page.text  # the keyboard fallback


def test_board_counts_follow_the_quick_search(org, login):
    manager = login("manager")
    everything = manager.get("/r/customer/board")
    assert "东海重工" in everything.text and "浦江电子" in everything.text
    searched = manager.get("/r/customer/board?q=浦江")
    assert "浦江电子" in searched.text and "东海重工" not in searched.text


def test_move_changes_the_stage_and_returns_the_new_version(org, login):
    rep = login("rep_east")
    answer = move(rep, org, "east", "deal")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == 2 and body["stage"] == "deal"
    assert body["columns"]["deal"]["count"] == 1 and body["columns"]["potential"]["count"] == 0
    assert org.stored("customer", org.customers["east"])["stage"] == "deal"


def test_move_to_a_stage_with_required_fields_is_refused_with_the_fields_named(org, login):
    """CORE-06: entering "negotiating" needs industry and expected value."""
    answer = move(login("rep_east"), org, "east", "negotiating")
    assert answer.status_code == 422
    assert "行业" in answer.json()["error"] and not answer.json()["reason_required"]
    assert org.stored("customer", org.customers["east"])["stage"] == "potential"


def test_move_to_lost_needs_a_reason(org, login, web_platform):
    rep = login("rep_east")
    refused = move(rep, org, "east", "lost")
    assert refused.status_code == 422 and refused.json()["reason_required"] is True
    done = move(rep, org, "east", "lost", reason="客户预算取消")
    assert done.status_code == 200, done.text
    history = web_platform.records.stage_history(org.admin, "customer", org.customers["east"],
                                                 "stage")  # fmt: skip
    assert history[-1]["to_stage"] == "lost" and history[-1]["reason"] == "客户预算取消"


def test_stale_move_is_refused_with_409(org, login):
    answer = move(login("rep_east"), org, "east", "deal", version=99)
    assert answer.status_code == 409 and answer.json()["error"]


def test_rep_cannot_move_another_reps_customer(org, login):
    answer = move(login("rep_east"), org, "north", "deal")
    assert answer.status_code == 404
    assert org.stored("customer", org.customers["north"])["stage"] == "potential"


def test_move_without_csrf_token_is_refused(org, login):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    answer = rep.client.post(f"/r/customer/{customer_id}/move",
                             data={"field": "stage", "to": "deal", "version": 1})  # fmt: skip
    assert answer.status_code == 403
    assert org.stored("customer", customer_id)["stage"] == "potential"


def test_plain_form_move_redirects_back_to_the_board(org, login):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    answer = rep.post(f"/r/customer/{customer_id}/move",
                      {"field": "stage", "to": "deal", "version": 1})  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"].startswith("/r/customer/board")


def test_locked_record_cannot_be_moved(org, login, web_platform):
    customer_id = org.customers["east"]
    web_platform.records.lock(org.actor("rep_east"), "customer", customer_id)
    answer = move(login("rep_east"), org, "east", "deal")
    assert answer.status_code == 423


def test_board_needs_a_stage_field(org, login):
    assert login("rep_east").get("/r/task/board").status_code == 400
    assert login("rep_east").get("/r/customer/board?field=name").status_code == 400


def test_agent_sees_the_board_without_moving(org, login):
    """Service agents may view customers but not edit them: no drag, no move forms."""
    page = login("agent").get("/r/customer/board")
    assert page.status_code == 200 and "北辰机电" in page.text
    assert 'name="to"' not in page.text and "kanban.js" not in page.text
    assert move(login("agent"), org, "north", "deal").status_code == 403
