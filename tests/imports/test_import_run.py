"""Importing through the service and the chunked run (DATA-09): files in every encoding and
format become records through the record pipeline (validation, permissions, history), each
bad cell is reported by column, duplicates follow the chosen policy, a dry run writes
nothing, a crashed run resumes without duplicating a row, and a cancel stops between chunks."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.imports import process, service
from guanxi.imports.workbooks import write_error_workbook
from guanxi.store.system_tables import history, import_issue, import_run
from tests.imports.conftest import (
    ImportFile,
    MobileDuplicates,
    customers_named,
    write_csv,
    write_xlsx,
)
from tests.org import MOBILES, Org

ZH_HEADER = ["客户名称", "公司名称", "线索来源", "手机号", "行业", "预计金额", "下次跟进时间"]


def test_gb18030_csv_with_chinese_headers_creates_customers(
    org: Org, import_file: ImportFile, tmp_path: Path
) -> None:  # DATA-09
    rows = [
        ZH_HEADER,
        [
            "陈晨",
            "晨光文具有限公司",
            "展会",
            "+86 137-0000-1111",
            "零售",
            "￥12,000.50",
            "2024年3月5日 14:30",
        ],
        ["林琳", "琳琅贸易有限公司", "Website", "13700002222", "IT", "8000", "2024/3/6"],
    ]
    path = write_csv(tmp_path / "客户.csv", rows, encoding="gb18030")
    run = import_file(path)
    assert (run.status, run.created, run.failed, run.encoding) == ("done", 2, 0, "gb18030")
    chen, lin = sorted(customers_named(org, "陈晨", "林琳"), key=lambda r: r["name"])[::-1]
    assert chen["mobile"] == "13700001111" and chen["source"] == "exhibition"
    assert chen["industry"] == "retail" and Decimal(chen["expected_value"]) == Decimal("12000.50")
    assert lin["source"] == "website" and lin["industry"] == "it"
    assert chen["owner_id"] == org.users["rep_east"]  # created as the importing user
    with org.platform.db.read() as connection:  # every row through the pipeline: history
        changes = connection.execute(
            sa.select(history.c.record_id).where(
                history.c.entity == "customer", history.c.record_id.in_([chen["id"], lin["id"]])
            )
        ).all()
    assert len(changes) == 2


def test_xlsx_values_are_parsed_by_field_type(
    org: Org, import_file: ImportFile, tmp_path: Path
) -> None:  # DATA-09
    from datetime import datetime

    header = [
        "Name",
        "Company",
        "Source",
        "Mobile",
        "Grade",
        "Next follow-up",
        "Importance",
        "Expected value",
    ]
    rows = [
        header,
        [
            "Wang Wu",
            "五金有限公司",
            "转介绍",
            13812340001,
            "A 重点客户",
            datetime(2024, 3, 5, 9, 0),
            4,
            12000.5,
        ],
        [
            "赵六",
            "六合有限公司",
            "WeChat",
            "１３８１２３４０００２",
            "B regular",
            "2024-03-05",
            "５",
            "１２００",
        ],
        ["钱七", "七星有限公司", "exhibition", 1.381234e10 + 3, "C", "2024年3月5日", 3, None],
    ]
    run = import_file(write_xlsx(tmp_path / "customers.xlsx", rows))
    assert (run.created, run.failed) == (3, 0), service.issue_rows(org.platform, run.id, "failed")
    wang, zhao, qian = (customers_named(org, name)[0] for name in ("Wang Wu", "赵六", "钱七"))
    assert (wang["source"], wang["mobile"], wang["level"], wang["rating"]) == (
        "referral",
        "13812340001",
        "A",
        4,
    )
    assert (zhao["source"], zhao["mobile"], zhao["level"], zhao["rating"]) == (
        "wechat",
        "13812340002",
        "B",
        5,
    )
    assert Decimal(zhao["expected_value"]) == Decimal("1200")
    assert qian["mobile"] == "13812340003" and qian["level"] == "C"
    assert all(r["next_followup_at"] is not None for r in (wang, zhao, qian))


def test_mapping_by_zh_and_en_headers_and_the_saved_mapping(
    org: Org, import_file: ImportFile, tmp_path: Path
) -> None:  # DATA-09
    platform, actor = org.platform, org.actor("rep_east")
    header = ["客户名称*", "COMPANY", "线索来源 / Source*", "联系电话", "备注栏"]
    path = write_xlsx(tmp_path / "m.xlsx", [header, ["甲", "甲公司", "官网", "13711112222", "x"]])
    with path.open("rb") as handle:
        draft = service.upload(platform, actor, "customer", "m.xlsx", handle)
    assert draft.mapping == ["name", "company", "source", None, None]
    chosen = ["name", "company", "source", "mobile", None]
    service.start(platform, actor, draft.id, chosen, save_mapping=True, queue=False)
    process.run_import(platform, draft.id)
    assert customers_named(org, "甲")[0]["mobile"] == "13711112222"
    with path.open("rb") as handle:  # the next file: the saved choices come first
        again = service.upload(platform, actor, "customer", "m.xlsx", handle)
    assert again.mapping == chosen
    with path.open("rb") as handle:  # saved per user: a colleague starts from the labels
        other = service.upload(platform, org.actor("rep_east2"), "customer", "m.xlsx", handle)
    assert other.mapping == ["name", "company", "source", None, None]


def test_only_writable_fields_are_offered_and_mapping_is_checked(
    org: Org, tmp_path: Path
) -> None:  # DATA-09, PERM-03
    platform, rep = org.platform, org.actor("rep_east")
    entity = platform.registry.snapshot().entity("customer")
    keys = [f.key for f in service.fields_for(platform, rep, entity)]
    assert "remarks" not in keys and "name" in keys  # remarks are hidden from reps
    path = write_xlsx(
        tmp_path / "r.xlsx", [["客户名称", "备注", "公司名称"], ["乙", "秘密", "乙公司"]]
    )
    with path.open("rb") as handle:
        draft = service.upload(platform, rep, "customer", "r.xlsx", handle)
    assert draft.mapping == ["name", None, "company"]
    with pytest.raises(ValidationFailed) as refused:
        service.start(platform, rep, draft.id, ["name", "remarks", "company"], queue=False)
    assert {e.code for e in refused.value.errors} == {"unknown_field"}
    with pytest.raises(ValidationFailed) as twice:
        service.start(platform, rep, draft.id, ["name", "name", None], queue=False)
    assert {e.code for e in twice.value.errors} == {"mapped_twice"}


def test_failed_rows_go_to_the_error_workbook_with_a_reason_per_cell(
    org: Org, import_file: ImportFile, tmp_path: Path
) -> None:  # DATA-09
    rows = [
        ZH_HEADER,
        ["好客户", "好公司", "展会", "13700003333", "", "", ""],
        ["坏手机", "坏公司", "展会", "12345", "", "", ""],
        ["", "无名公司", "不存在的来源", "13700004444", "", "一万", "明天"],
    ]
    run = import_file(write_xlsx(tmp_path / "bad.xlsx", rows))
    assert (run.created, run.failed) == (1, 2)
    target = tmp_path / "errors.xlsx"
    assert write_error_workbook(org.platform, run.id, run.header, target, "en") == 2
    sheet = openpyxl.load_workbook(target).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][: len(ZH_HEADER)] == ZH_HEADER and values[0][-2:] == [
        "错误 / Errors",
        "行号 / Row",
    ]
    assert values[1][:4] == ["坏手机", "坏公司", "展会", "12345"] and values[1][-1] == 3
    assert values[1][-2].startswith("手机号: A mobile number has 11 digits")
    third = values[2][-2].splitlines()
    assert any(line.startswith("线索来源: ") for line in third)
    assert any(line.startswith("预计金额: ") for line in third)
    assert any(line.startswith("下次跟进时间: ") for line in third)
    assert any(line.startswith("客户名称: ") for line in third)  # required, from the pipeline
    assert sheet.cell(row=2, column=4).comment is not None  # the bad mobile is marked
    assert sheet.cell(row=2, column=1).comment is None


def test_failed_raw_rows_are_sealed_in_the_database(
    org: Org, import_file: ImportFile, tmp_path: Path
) -> None:  # DATA-09, DATA-12
    rows = [ZH_HEADER, ["", "无名公司", "展会", "13766667777", "", "", ""]]
    run = import_file(write_xlsx(tmp_path / "s.xlsx", rows))
    assert run.failed == 1
    with org.platform.db.read() as connection:
        raw = connection.execute(
            sa.select(import_issue.c.raw).where(import_issue.c.import_id == run.id)
        ).scalar_one()
    assert "13766667777" not in raw and "无名公司" not in raw
    assert json.loads(org.platform.cipher.open(raw))[3] == "13766667777"


def test_duplicates_are_skipped_updated_or_created_per_policy(
    org: Org, import_file: ImportFile, tmp_path: Path, duplicates: MobileDuplicates
) -> None:  # DATA-09, DATA-07
    existing = org.customers["east"]
    rows = [
        ["客户名称", "公司名称", "线索来源", "手机号", "客户等级"],
        ["东海重工（新）", "东海重工有限公司", "展会", MOBILES["east"], "S"],
        ["全新客户", "全新有限公司", "展会", "13755550000", ""],
    ]
    path = write_xlsx(tmp_path / "dupes.xlsx", rows)

    skipped = import_file(path)
    assert (skipped.created, skipped.skipped, skipped.updated) == (1, 1, 0)
    assert duplicates.calls == 2
    assert service.issue_rows(org.platform, skipped.id, "skipped")[0]["record_id"] == existing
    assert org.stored("customer", existing)["level"] is None

    updated = import_file(path, policy="update")
    assert (updated.created, updated.skipped, updated.updated) == (0, 0, 2)
    record = org.stored("customer", existing)
    assert (record["name"], record["level"]) == ("东海重工（新）", "S")
    version = record["version"]
    assert import_file(path, policy="update").updated == 2  # idempotent: nothing changes
    assert org.stored("customer", existing)["version"] == version

    created = import_file(path, policy="create")
    assert (created.created, created.skipped, created.updated) == (2, 0, 0)
    assert len(customers_named(org, "全新客户")) == 2


def test_dry_run_counts_what_would_happen_and_writes_nothing(
    org: Org, import_file: ImportFile, tmp_path: Path
) -> None:  # DATA-09
    rows = [
        ["客户名称", "公司名称", "线索来源", "手机号"],
        ["试运行甲", "甲公司", "展会", "13788880001"],
        ["东海重工", "东海重工有限公司", "展会", MOBILES["east"]],
        ["试运行乙", "乙公司", "没有这个来源", "13788880002"],
    ]
    before = org.platform.records.count(Actor.system(), "customer")
    run = import_file(write_xlsx(tmp_path / "dry.xlsx", rows), dry_run=True, policy="update")
    assert (run.status, run.dry_run) == ("done", True)
    assert (run.created, run.updated, run.failed) == (1, 1, 1)
    assert org.platform.records.count(Actor.system(), "customer") == before
    assert org.stored("customer", org.customers["east"])["version"] == 1
    assert run.storage_key is not None  # kept for "run for real"
    real = service.repeat_for_real(org.platform, org.actor("rep_east"), run.id)
    real = process.run_import(org.platform, real.id)
    assert (real.dry_run, real.created, real.updated, real.failed) == (False, 1, 1, 1)
    assert real.storage_key is None and not list((org.platform.settings.imports_dir).iterdir())


def test_a_crashed_run_resumes_without_duplicating_rows(
    org: Org, import_file: ImportFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # DATA-09
    monkeypatch.setattr(process, "CHUNK_ROWS", 3)
    rows = [["客户名称", "公司名称", "线索来源"]] + [
        [f"续传{i:02d}", f"续传公司{i:02d}", "展会" if i != 7 else "?"] for i in range(14)
    ]
    store = process._store_progress
    chunks = {"n": 0}

    def crash_on_third(connection: Any, *args: Any) -> None:
        chunks["n"] += 1
        if chunks["n"] == 3:
            raise RuntimeError("worker killed")  # inside the chunk's transaction
        store(connection, *args)

    monkeypatch.setattr(process, "_store_progress", crash_on_third)
    with pytest.raises(RuntimeError):
        import_file(write_xlsx(tmp_path / "crash.xlsx", rows))
    with org.platform.db.read() as connection:
        import_id = connection.execute(sa.select(sa.func.max(import_run.c.id))).scalar_one()
    half = service.get(org.platform, org.admin, import_id)
    assert (half.status, half.next_row, half.created) == ("running", 8, 6)
    assert len(customers_named(org, *[f"续传{i:02d}" for i in range(14)])) == 6

    done = process.run_import(org.platform, import_id)  # the retry, from next_row
    assert (done.status, done.created, done.failed, done.processed) == ("done", 13, 1, 14)
    names = [r["name"] for r in customers_named(org, *[f"续传{i:02d}" for i in range(14)])]
    assert sorted(names) == [f"续传{i:02d}" for i in range(14) if i != 7]  # each exactly once
    assert [r["row_no"] for r in service.issue_rows(org.platform, import_id, "failed")] == [9]


def test_cancel_stops_between_chunks_and_keeps_imported_rows(
    org: Org, import_file: ImportFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # DATA-09
    monkeypatch.setattr(process, "CHUNK_ROWS", 2)
    rows = [["客户名称", "公司名称", "线索来源"]] + [[f"取消{i}", "公司", "展会"] for i in range(6)]
    rep = org.actor("rep_east")

    def cancel_after_first(run: service.ImportRun) -> None:
        if run.processed == 2:
            service.cancel(org.platform, rep, run.id)

    run = import_file(write_xlsx(tmp_path / "c.xlsx", rows), progress=cancel_after_first)
    assert (run.status, run.created, run.processed) == ("cancelled", 2, 2)
    assert run.storage_key is None
    assert len(customers_named(org, *[f"取消{i}" for i in range(6)])) == 2


def test_an_import_runs_as_a_job_in_slices(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # DATA-09, OPS-02
    from guanxi.defaults import imports as job_plugin

    monkeypatch.setattr(process, "CHUNK_ROWS", 2)
    monkeypatch.setattr(job_plugin, "SLICE_SECONDS", 0)  # one chunk per job run
    rows = [["客户名称", "公司名称", "线索来源"]] + [[f"任务{i}", "公司", "展会"] for i in range(5)]
    path = write_xlsx(tmp_path / "job.xlsx", rows)
    rep = org.actor("rep_east")
    with path.open("rb") as handle:
        draft = service.upload(org.platform, rep, "customer", "job.xlsx", handle)
    assert service.start(org.platform, rep, draft.id).status == "queued"
    outcomes = org.platform.jobs.run_due()
    runs = [o for o in outcomes if o.job == "imports.run"]
    assert [o.status for o in runs] == ["ok"] * 3
    final = service.get(org.platform, rep, draft.id)
    assert (final.status, final.created) == ("done", 5)


def test_users_without_create_permission_are_refused_by_the_service(
    org: Org, tmp_path: Path
) -> None:  # DATA-09, PERM-01
    path = write_xlsx(tmp_path / "p.xlsx", [["客户名称"], ["丙"]])
    agent = org.actor("agent")  # service agents may view customers, not create them
    with path.open("rb") as handle, pytest.raises(PermissionDenied):
        service.upload(org.platform, agent, "customer", "p.xlsx", handle)
    with path.open("rb") as handle:
        draft = service.upload(org.platform, org.actor("rep_east"), "customer", "p.xlsx", handle)
    with pytest.raises(NotFound):  # another user's import does not exist for them
        service.get(org.platform, org.actor("rep_north"), draft.id)
    assert service.get(org.platform, org.admin, draft.id).id == draft.id  # admins see all
    with pytest.raises(PermissionDenied):
        service.start(org.platform, org.admin, draft.id, queue=False)


def test_permission_lost_midway_stops_the_run(org: Org, tmp_path: Path) -> None:  # DATA-09, PERM-01
    path = write_xlsx(
        tmp_path / "lost.xlsx", [["客户名称", "公司名称", "线索来源"], ["丁", "丁司", "展会"]]
    )
    rep = org.actor("rep_east")
    with path.open("rb") as handle:
        draft = service.upload(org.platform, rep, "customer", "lost.xlsx", handle)
    service.start(org.platform, rep, draft.id, queue=False)
    org.platform.permissions.assign_role(org.admin, org.users["rep_east"], "service_agent")
    org.platform.permissions.revoke_role(org.admin, org.users["rep_east"], "sales_rep")
    run = process.run_import(org.platform, draft.id)
    assert run.status == "failed" and "may not create" in run.error_text("en")
    assert run.resumable and customers_named(org, "丁") == []


def test_references_by_number_or_title_and_owners_by_name(
    org: Org, import_file: ImportFile, tmp_path: Path
) -> None:  # DATA-09
    number = org.stored("customer", org.customers["east"])["number"]
    rows = [
        ["姓名", "所属客户", "手机号"],
        ["按编号", number, "13700000001"],
        ["按名称", "东海重工", "13700000002"],
        ["找不到", "不存在的客户", "13700000003"],
        ["看不见", "北辰机电", "13700000004"],
    ]  # rep_north's customer: outside the scope
    run = import_file(write_xlsx(tmp_path / "contacts.xlsx", rows), entity="contact")
    assert (run.created, run.failed) == (2, 2), service.issue_rows(org.platform, run.id, "failed")
    failed = service.issue_rows(org.platform, run.id, "failed")
    assert [f["messages"][0]["column"] for f in failed] == ["所属客户", "所属客户"]
    owners = [
        ["客户名称", "公司名称", "线索来源", "负责人"],
        ["归王东", "司", "展会", "rep_east"],
        ["归李华", "司", "展会", "李华"],
        ["无此人", "司", "展会", "nobody"],
    ]
    run = import_file(write_xlsx(tmp_path / "owners.xlsx", owners), "admin")
    assert (run.created, run.failed) == (2, 1)
    assert customers_named(org, "归李华")[0]["owner_id"] == org.users["rep_east2"]
    assert customers_named(org, "归王东")[0]["owner_id"] == org.users["rep_east"]


@pytest.mark.parametrize("action", ["warn", "block"])
def test_policies_with_a_real_duplicate_rule(
    make_platform: Any, tmp_path: Path, action: str
) -> None:  # DATA-09, DATA-07
    from guanxi.defaults.duplicates import book
    from tests.imports.conftest import SECRET
    from tests.org import build_org

    org = build_org(make_platform(secret_key=SECRET))
    platform = org.platform
    book(platform).save(
        org.admin,
        {
            "name": "手机号",
            "entity": "customer",
            "action": action,
            "fields": [{"field": "mobile", "method": "exact"}],
        },
    )
    platform.jobs.run_due()  # existing customers get their keys
    rows = [
        ["客户名称", "公司名称", "线索来源", "手机号"],
        ["东海重工二号", "东海重工有限公司", "展会", MOBILES["east"]],
        ["规则新客户", "新有限公司", "展会", "13755551111"],
    ]
    path = write_xlsx(tmp_path / "rule.xlsx", rows)
    rep = org.actor("rep_east")

    def run(policy: str) -> service.ImportRun:
        with path.open("rb") as handle:
            draft = service.upload(platform, rep, "customer", "rule.xlsx", handle, policy=policy)
        service.start(platform, rep, draft.id, queue=False)
        return process.run_import(platform, draft.id)

    skipped = run("skip")
    assert (skipped.created, skipped.skipped) == (1, 1)
    assert (
        service.issue_rows(platform, skipped.id, "skipped")[0]["record_id"] == org.customers["east"]
    )
    created = run("create")  # both rows now repeat a mobile (the first run added the second)
    if action == "warn":  # "create anyway" confirms a warning
        assert (created.created, created.failed) == (2, 0)
        assert len(customers_named(org, "东海重工二号")) == 1
    else:  # a blocking rule still refuses
        assert (created.created, created.failed) == (0, 2)
        failed = service.issue_rows(platform, created.id, "failed")[0]
        assert failed["messages"][0]["code"] == "duplicate"
        assert failed["messages"][0]["column"] == "手机号"


def test_duplicates_within_one_file_follow_the_policy(
    make_platform: Any, tmp_path: Path
) -> None:  # DATA-09, DATA-07
    """Rows of one chunk are created in one transaction and cannot see each other: a row
    repeating an earlier row's key starts the next chunk, after the earlier one is saved."""
    from guanxi.defaults.duplicates import book
    from tests.imports.conftest import SECRET
    from tests.org import build_org

    org = build_org(make_platform(secret_key=SECRET))
    platform = org.platform
    book(platform).save(
        org.admin,
        {
            "name": "手机号",
            "entity": "customer",
            "action": "warn",
            "fields": [{"field": "mobile", "method": "exact"}],
        },
    )
    platform.jobs.run_due()
    rows = [
        ["客户名称", "公司名称", "线索来源", "手机号", "客户等级"],
        ["同文件甲", "甲司", "展会", "13755559999", ""],
        ["同文件乙", "乙司", "展会", "13755558888", ""],
        ["同文件甲（重复）", "甲司", "展会", "137 5555 9999", "A"],
        ["同文件丙", "丙司", "展会", "13755557777", ""],
    ]
    path = write_xlsx(tmp_path / "same.xlsx", rows)
    rep = org.actor("rep_east")
    with path.open("rb") as handle:
        draft = service.upload(platform, rep, "customer", "same.xlsx", handle, policy="update")
    service.start(platform, rep, draft.id, queue=False)
    run = process.run_import(platform, draft.id)
    assert (run.created, run.updated, run.skipped, run.failed) == (3, 1, 0, 0)
    first = customers_named(org, "同文件甲（重复）")
    assert len(first) == 1 and first[0]["level"] == "A"  # the first row's record, updated
    assert customers_named(org, "同文件甲") == []


def test_updating_a_duplicate_outside_the_scope_fails_the_row(
    org: Org, import_file: ImportFile, tmp_path: Path
) -> None:  # DATA-09, PERM-04
    rows = [
        ["客户名称", "公司名称", "线索来源", "手机号", "客户等级"],
        ["北辰机电", "北辰机电有限公司", "展会", MOBILES["north"], "S"],
    ]  # rep_north's
    run = import_file(write_xlsx(tmp_path / "north.xlsx", rows), policy="update")
    assert (run.updated, run.failed) == (0, 1)
    failed = service.issue_rows(org.platform, run.id, "failed")[0]
    assert failed["messages"][0]["code"] == "duplicate_not_editable"
    assert org.stored("customer", org.customers["north"])["level"] is None


def test_a_stalled_import_can_be_resumed(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # DATA-09
    """A worker whose lease ran out on its last attempt leaves a "running" import with no
    task: after the lease it counts as stalled, and Resume queues it again."""
    from datetime import timedelta

    from guanxi import clock

    monkeypatch.setattr(process, "CHUNK_ROWS", 2)
    rows = [["客户名称", "公司名称", "线索来源"]] + [[f"停滞{i}", "司", "展会"] for i in range(5)]
    path = write_xlsx(tmp_path / "stall.xlsx", rows)
    rep = org.actor("rep_east")
    with path.open("rb") as handle:
        draft = service.upload(org.platform, rep, "customer", "stall.xlsx", handle)
    service.start(org.platform, rep, draft.id, queue=False)

    def stop_after_first(run: service.ImportRun) -> None:
        if run.processed == 2:
            raise KeyboardInterrupt  # the process dies: the import stays "running"

    with pytest.raises(KeyboardInterrupt):
        process.run_import(org.platform, draft.id, progress=stop_after_first)
    running = service.get(org.platform, rep, draft.id)
    assert running.status == "running" and not running.resumable
    with pytest.raises(ValidationFailed):
        service.resume(org.platform, rep, draft.id)
    with org.platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(import_run)
            .where(import_run.c.id == draft.id)
            .values(updated_at=clock.now_utc() - timedelta(minutes=30))
        )
    assert service.get(org.platform, rep, draft.id).resumable
    assert service.resume(org.platform, rep, draft.id).status == "running"
    org.platform.jobs.run_due()
    final = service.get(org.platform, rep, draft.id)
    assert (final.status, final.created) == ("done", 5)


def test_a_large_workbook_is_read_by_a_second_process_with_the_same_result(
    org: Org, import_file: ImportFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # DATA-09: read-ahead overlaps parsing with writing; a cancel stops the reader
    import multiprocessing

    from guanxi.imports import read_ahead

    monkeypatch.setattr(read_ahead, "MIN_ROWS", 0)
    monkeypatch.setattr(read_ahead, "CHUNK", 2)
    monkeypatch.setattr(process, "CHUNK_ROWS", 3)
    rows = [["客户名称", "公司名称", "线索来源", "手机号"]] + [
        [f"预读{i}", "公司", "展会", f"1{i + 3}7 0000 {i:04d}"] for i in range(7)
    ]
    rows[4][3] = "12345"  # a bad mobile: reported by row number as usual
    run = import_file(write_xlsx(tmp_path / "big.xlsx", rows))
    assert (run.status, run.created, run.failed, run.skipped) == ("done", 6, 1, 0), run
    assert len(customers_named(org, *[f"预读{i}" for i in range(7)])) == 6
    with org.platform.db.read() as connection:
        failed = (
            connection.execute(
                sa.select(import_issue.c.row_no).where(import_issue.c.outcome == "failed")
            )
            .scalars()
            .all()
        )
    assert failed == [5]  # the header is row 1
    assert not [p for p in multiprocessing.active_children() if p.name == "guanxi-import-reader"]

    rep = org.actor("rep_east")

    def cancel_after_first(current: service.ImportRun) -> None:
        if current.processed == 3:
            service.cancel(org.platform, rep, current.id)

    more = [rows[0]] + [[f"再读{i}", "公司", "展会", ""] for i in range(9)]
    cancelled = import_file(write_xlsx(tmp_path / "more.xlsx", more), progress=cancel_after_first)
    assert (cancelled.status, cancelled.created) == ("cancelled", 3)
    assert not [p for p in multiprocessing.active_children() if p.name == "guanxi-import-reader"]
