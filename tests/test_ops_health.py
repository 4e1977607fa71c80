"""OPS-03: /healthz answers without the database; /readyz checks that the database answers
and holds every table, column and index the metadata wants, and says what is wrong."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from starlette.testclient import TestClient

from guanxi.app import create_app
from guanxi.core import Guanxi
from guanxi.ops import health
from guanxi.ops.health import ReadinessProbe
from tests.conftest import TestDatabase as DatabaseFixture  # a Test* name would be collected


@pytest.fixture
def quiet_platform(make_platform: Any) -> Guanxi:
    """No background job thread: these tests count the statements a request sends."""
    return make_platform(jobs_in_web=False)


@contextmanager
def statements(platform: Guanxi) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(platform.db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(platform.db.engine, "before_cursor_execute", record)


def broken_engine(test_db: DatabaseFixture, tmp_path: Any) -> sa.Engine:
    if test_db.dialect == "postgresql":  # nothing listens on port 1: refused at once
        return sa.create_engine("postgresql+psycopg://guanxi@127.0.0.1:1/guanxi")
    return sa.create_engine(f"sqlite:///{tmp_path}/no-such-folder/guanxi.db")


def test_healthz_is_ok_without_reading_the_database(quiet_platform: Guanxi) -> None:  # OPS-03
    with TestClient(create_app(quiet_platform)) as client, statements(quiet_platform) as sent:
        answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    assert answer.headers["cache-control"] == "no-store"
    assert sent == []


def test_readyz_is_ready_on_a_synced_database_and_caches_its_answer(
    quiet_platform: Guanxi,
) -> None:  # OPS-03
    with TestClient(create_app(quiet_platform)) as client:
        first = client.get("/readyz")
        with statements(quiet_platform) as sent:
            second = client.get("/readyz")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["schema"] == {
        "status": "ok",
        "tables": body["checks"]["schema"]["tables"],
    }
    assert body["checks"]["schema"]["tables"] > 20  # system tables and the entity tables
    assert second.json() == body and sent == []  # a probe every second costs no queries


def test_readyz_names_a_missing_column_and_index(
    quiet_platform: Guanxi, test_db: DatabaseFixture
) -> None:  # OPS-03: schema out of sync -> 503 saying what is missing, nothing changed
    with quiet_platform.db.unit_of_work() as connection:
        connection.exec_driver_sql("DROP INDEX ix_e_customer_region")
        connection.exec_driver_sql("ALTER TABLE e_customer DROP COLUMN website")
    with TestClient(create_app(quiet_platform)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["status"] == "ok"
    schema = body["checks"]["schema"]
    assert schema["status"] == "error"
    assert schema["missing"] == ["column e_customer.website", "index ix_e_customer_region"]
    assert "guanxi init" in schema["hint"]
    with quiet_platform.db.read() as connection:  # the probe only looked
        live = {c["name"] for c in sa.inspect(connection).get_columns("e_customer")}
    assert "website" not in live


def test_readyz_names_a_missing_system_table(quiet_platform: Guanxi) -> None:  # OPS-03
    with quiet_platform.db.unit_of_work() as connection:
        connection.exec_driver_sql("DROP TABLE gx_web_form_submission")
    with TestClient(create_app(quiet_platform)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["schema"]["missing"] == ["table gx_web_form_submission"]


def test_readyz_fails_while_healthz_answers_when_the_database_is_unreachable(
    quiet_platform: Guanxi, test_db: DatabaseFixture, tmp_path: Any
) -> None:  # OPS-03
    with TestClient(create_app(quiet_platform)) as client, pytest.MonkeyPatch.context() as patch:
        patch.setattr(quiet_platform.db, "engine", broken_engine(test_db, tmp_path))
        ready = client.get("/readyz")
        alive = client.get("/healthz")
    assert ready.status_code == 503
    database = ready.json()["checks"]["database"]
    assert database["status"] == "error" and "OperationalError" in database["error"]
    assert "schema" not in ready.json()["checks"]
    assert alive.status_code == 200


def test_readyz_answers_503_in_time_when_the_check_hangs(
    quiet_platform: Guanxi, monkeypatch: pytest.MonkeyPatch
) -> None:  # OPS-03: a hung database costs one thread, and the probe still answers
    release = threading.Event()
    calls: list[int] = []

    def hang(platform: Guanxi, timeout: float) -> health.Readiness:
        calls.append(1)
        release.wait(10)
        return health.Readiness({"database": {"status": "ok"}})

    monkeypatch.setattr(health, "check_readiness", hang)
    app = create_app(quiet_platform)
    app.state.readiness = ReadinessProbe(quiet_platform, timeout=0.2)
    with TestClient(app) as client:
        first = client.get("/readyz")
        second = client.get("/readyz")
        release.set()
    assert first.status_code == second.status_code == 503
    assert first.json()["checks"]["database"]["error"] == "no answer within 0.2 s"
    assert calls == [1]  # the second probe waited for the same check
