"""Helpers for the backup tests: seed realistic data, read every row of every table, destroy
a test database completely, and rebuild an archive with changes (to tamper with it)."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from guanxi import attachments
from guanxi.actor import Actor
from guanxi.auth import access_log
from guanxi.core import Guanxi
from guanxi.store.db import normalize_url
from tests.conftest import PG_URL, customer_data
from tests.conftest import TestDatabase as DatabaseFixture  # a Test* name would be collected

ENTITIES = ("customer", "contact", "followup", "task", "note")
QUOTE_PDF = b"%PDF-1.4\n% \xe6\x8a\xa5\xe4\xbb\xb7\xe5\x8d\x95 quote for 2024\n%%EOF\n"


def seed(platform: Guanxi) -> dict[str, Any]:
    """Customers with Chinese text, emoji, tags, a custom field, money and sensitive fields;
    a contact and a follow-up referring to them; an attachment. Returns the ids."""
    system = Actor.system()
    platform.admin.add_field(system, "customer", "wechat_id", "text", "微信号")
    platform.admin.add_tag_group(
        system, "customer", "behaviour", {"zh-CN": "行为", "en": "Behaviour"}
    )
    platform.admin.add_tag(system, "customer", "behaviour", "vip", "重要客户", color="#c00")
    platform.admin.add_tag(system, "customer", "behaviour", "erp", "ERP 意向")
    first = platform.records.create(
        system,
        "customer",
        customer_data(
            tags=["vip", "erp"],
            cf_wechat_id="zhangsan_88",
            email="zhangsan@xingchen.cn",
            expected_value="¥128,000.50",
            remarks="首次接触：2024 春季广交会 🎉\n第二行，含“引号”与 'quotes'",
        ),
    )
    second = platform.records.create(
        system,
        "customer",
        customer_data(
            name="李四",
            company="北京云图信息技术有限公司",
            mobile="13900001111",
            source="website",
            tags=["vip"],
        ),
    )
    contact = platform.records.create(
        system, "contact", {"name": "王五", "customer": first["id"], "mobile": "13700002222"}
    )
    followup = platform.records.create(
        system,
        "followup",
        {
            "customer": first["id"],
            "contact": contact["id"],
            "method": "phone",
            "content": "报价已发送",
        },
    )
    file = attachments.save(
        platform,
        system,
        "customer",
        first["id"],
        "报价单.pdf",
        "application/pdf",
        io.BytesIO(QUOTE_PDF),
    )
    return {"customers": [first["id"], second["id"]], "contact": contact["id"],
            "followup": followup["id"], "attachment": file}  # fmt: skip


def records(platform: Guanxi) -> dict[str, list[dict[str, Any]]]:
    """Every record of every core module as the record service reads it (sealed fields open)."""
    system = Actor.system()
    found: dict[str, list[dict[str, Any]]] = {}
    for entity in ENTITIES:
        table = platform.registry.get(entity).table
        with platform.db.read() as connection:
            ids = connection.exec_driver_sql(f"SELECT id FROM {table} ORDER BY id").scalars().all()
        found[entity] = [platform.records.get(system, entity, record_id) for record_id in ids]
    access_log.flush(platform.db)
    return found


def all_rows(
    test_db: DatabaseFixture, schema: str | None = None, *, url: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (all columns), in primary-key order, straight from SQL."""
    schema = schema or test_db.schema
    engine = sa.create_engine(normalize_url(url or test_db.url))
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            rows: dict[str, list[dict[str, Any]]] = {}
            for name in sorted(inspector.get_table_names(schema=schema)):
                table = sa.Table(name, sa.MetaData(), autoload_with=connection, schema=schema)
                order = list(table.primary_key.columns) or list(table.columns)
                rows[name] = [
                    dict(row._mapping)
                    for row in connection.execute(sa.select(table).order_by(*order))
                ]
            return rows
    finally:
        engine.dispose()


def destroy(test_db: DatabaseFixture, platform: Guanxi) -> None:
    """Lose everything: the database (file, or schema dropped and created empty again) and the
    attachments directory."""
    platform.close()
    if PG_URL:
        engine = sa.create_engine(normalize_url(PG_URL))
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{test_db.schema}" CASCADE')
            connection.exec_driver_sql(f'CREATE SCHEMA "{test_db.schema}"')
        engine.dispose()
    else:
        database = Path(test_db.url[len("sqlite:///") :])
        for path in database.parent.glob(database.name + "*"):
            path.unlink()
    shutil.rmtree(platform.settings.attachments_dir, ignore_errors=True)


def files_under(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def repack(
    archive: Path,
    target: Path,
    change: Callable[[str, bytes], bytes] = lambda _name, data: data,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A copy of `archive` with members changed and extra members added, and a sidecar that
    matches the new file (so only the manifest can tell)."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(target, "w:gz") as copy:
        for member in source.getmembers():
            handle = source.extractfile(member)
            data = change(member.name, handle.read() if handle else b"")
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            copy.addfile(info, io.BytesIO(data))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            copy.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    target.with_name(target.name + ".sha256").write_text(f"{digest}  {target.name}\n")
    return target
