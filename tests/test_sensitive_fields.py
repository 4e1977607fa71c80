"""DATA-12: sensitive fields are encrypted at rest (AES-GCM, key outside the database) and
still found by their exact value through a blind index; rotation re-encrypts in batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.core import Guanxi
from guanxi.crypto.cipher import sealed_key_id
from guanxi.crypto.keyring import write_ring
from guanxi.crypto.reseal import key_usage, reseal
from guanxi.errors import QueryError
from guanxi.store.system_tables import history
from tests.conftest import customer_data

MOBILE, NEW_MOBILE, EMAIL = "13912345678", "13687654321", "Zhang.Wei@Example.CN"


def raw_text(platform: Guanxi) -> str:
    """Every value of every table, read with plain SQL (no decryption), as one string."""
    chunks: list[str] = []
    with platform.db.read() as connection:
        for name in sa.inspect(connection).get_table_names():
            table = sa.table(name)
            rows = connection.execute(sa.select(sa.text("*")).select_from(table)).all()
            chunks.extend(repr(tuple(row)) for row in rows)
    return "\n".join(chunks)


def stored_mobile(platform: Guanxi, record_id: int) -> Any:
    raw = sa.table("e_customer", sa.column("id"), sa.column("mobile"), sa.column("mobile_bidx"))
    with platform.db.read() as connection:
        return connection.execute(
            sa.select(raw.c.mobile, raw.c.mobile_bidx).where(raw.c.id == record_id)
        ).one()


@pytest.fixture
def customer(platform: Guanxi, system: Actor) -> dict[str, Any]:
    created = platform.records.create(
        system, "customer", customer_data(mobile="139 1234 5678", email=EMAIL)
    )
    return platform.records.update(
        system, "customer", created["id"], {"mobile": f"+86 {NEW_MOBILE}"},
        version=created["version"], field_reasons={"mobile": "换号"},
    )  # fmt: skip


def test_no_table_holds_a_plain_mobile_or_email(platform: Guanxi, customer, test_db) -> None:
    assert customer["mobile"] == NEW_MOBILE and customer["email"] == "Zhang.Wei@example.cn"
    text = raw_text(platform)
    for secret in (MOBILE, NEW_MOBILE, "Zhang.Wei", "zhang.wei"):
        assert secret not in text
    assert "gxe1:" in text  # the values are there, sealed
    if test_db.dialect == "sqlite":  # and the file itself (WAL folded in) shows none either
        platform.close()
        with sa.create_engine(test_db.url).connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        database = Path(test_db.url.removeprefix("sqlite:///")).read_bytes()
        assert MOBILE.encode() not in database and NEW_MOBILE.encode() not in database
        assert b"Zhang.Wei" not in database


def test_history_keeps_the_diff_readable_for_those_who_may_read(
    platform: Guanxi, customer, system: Actor
) -> None:
    entries = platform.records.history(system, "customer", customer["id"])
    assert entries[-1]["changes"]["mobile"] == [MOBILE, NEW_MOBILE]
    assert entries[0]["changes"]["email"] == [None, "Zhang.Wei@example.cn"]
    with platform.db.read() as connection:
        raw = connection.execute(sa.select(history.c.changes)).scalars().all()
    assert all(str(v).startswith("gxe1:") for c in raw for v in c.get("mobile", []) if v)


def test_exact_filters_and_search_find_the_encrypted_value(
    platform: Guanxi, customer, system: Actor
) -> None:
    records = platform.records
    other = records.create(system, "customer", customer_data(name="另一家", mobile="13800000000"))
    for value in (NEW_MOBILE, "136-8765-4321", "+86 136 8765 4321"):
        page = records.query(system, "customer", {"field": "mobile", "op": "eq", "value": value})
        assert [r["id"] for r in page.rows] == [customer["id"]]
    page = records.query(system, "customer", {"field": "email", "op": "eq",
                                              "value": "zhang.wei@EXAMPLE.cn"})  # fmt: skip
    assert [r["id"] for r in page.rows] == [customer["id"]]
    page = records.query(system, "customer", {"field": "mobile", "op": "in",
                                              "value": [NEW_MOBILE, "13800000000"]})  # fmt: skip
    assert {r["id"] for r in page.rows} == {customer["id"], other["id"]}
    page = records.query(system, "customer", {"field": "mobile", "op": "ne", "value": NEW_MOBILE})
    assert customer["id"] not in {r["id"] for r in page.rows}
    assert [r["id"] for r in records.query(system, "customer", None, search=NEW_MOBILE).rows] == [
        customer["id"]
    ]
    empty = records.query(system, "customer", {"field": "mobile", "op": "is_empty"})
    assert customer["id"] not in {r["id"] for r in empty.rows}


def test_partial_match_and_sort_are_refused_by_name(platform: Guanxi, system: Actor) -> None:
    with pytest.raises(QueryError) as refused:
        platform.records.query(system, "customer", {"field": "mobile", "op": "contains",
                                                    "value": "1391"})  # fmt: skip
    assert refused.value.field == "mobile" and refused.value.code == "bad_operator"
    assert "whole value" in refused.value.message.render("en")
    with pytest.raises(QueryError) as unsortable:
        platform.records.query(system, "customer", None, sort=["mobile"])
    assert unsortable.value.code == "not_sortable"


def test_rotation_re_encrypts_everything_and_old_key_can_then_retire(
    platform: Guanxi, customer, system: Actor, test_db
) -> None:
    old_key = platform.cipher.current
    assert sealed_key_id(stored_mobile(platform, customer["id"]).mobile) == old_key
    write_ring(test_db.key_file, platform.cipher.ring.with_new_key())
    platform.cipher.refresh(force=True)
    new_key = platform.cipher.current
    assert new_key != old_key
    # mid-rotation: old values still open and are still found through their old index
    page = platform.records.query(system, "customer", {"field": "mobile", "value": NEW_MOBILE})
    assert [r["id"] for r in page.rows] == [customer["id"]]
    report = reseal(platform, batch=1)
    assert report.rows["e_customer"] == 1 and report.rows["gx_history"] >= 2
    usage = key_usage(platform)
    assert all(old_key not in counts for counts in usage.values()), usage
    assert usage["e_customer"][new_key] >= 2
    assert reseal(platform).total == 0  # a second run has nothing left to do
    write_ring(test_db.key_file, platform.cipher.ring.without(old_key))
    platform.cipher.refresh(force=True)
    assert platform.cipher.ring.ids() == [new_key]
    fresh = platform.records.get(system, "customer", customer["id"])
    assert fresh["mobile"] == NEW_MOBILE and fresh["email"] == "Zhang.Wei@example.cn"
    history_entries = platform.records.history(system, "customer", customer["id"])
    assert history_entries[-1]["changes"]["mobile"] == [MOBILE, NEW_MOBILE]


def test_values_stored_plain_before_an_upgrade_are_read_and_then_sealed(
    platform: Guanxi, system: Actor
) -> None:
    created = platform.records.create(system, "customer", customer_data(name="老数据"))
    raw = sa.table("e_customer", sa.column("id"), sa.column("mobile"), sa.column("mobile_bidx"))
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(raw).where(raw.c.id == created["id"]).values(mobile="13500001111")
        )
    assert platform.records.get(system, "customer", created["id"])["mobile"] == "13500001111"
    found = platform.records.query(system, "customer", {"field": "mobile", "value": "13500001111"})
    assert found.rows == []  # no blind index yet: `guanxi keys reseal` is the upgrade step
    reseal(platform)
    assert stored_mobile(platform, created["id"]).mobile.startswith("gxe1:")
    found = platform.records.query(system, "customer", {"field": "mobile", "value": "13500001111"})
    assert [r["id"] for r in found.rows] == [created["id"]]


def test_keys_command_rotates_and_reports(platform: Guanxi, customer, test_db, monkeypatch,
                                          capsys) -> None:  # fmt: skip
    from guanxi.cli import main

    for name, value in test_db.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GUANXI_SCHEMA_DIR", str(Path(__file__).parents[1] / "schemas"))
    assert main(["keys", "rotate"]) == 0
    assert "re-encrypted" in capsys.readouterr().out
    assert main(["keys", "status"]) == 0
    status = capsys.readouterr().out
    assert "current key: k2" in status and "k1" in status
    assert main(["keys", "retire", "k1"]) == 0
    platform.cipher.refresh(force=True)
    assert platform.records.get(Actor.system(), "customer", customer["id"])["mobile"] == NEW_MOBILE
