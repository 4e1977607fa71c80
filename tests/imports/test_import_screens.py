"""Import screens over HTTP (DATA-09): upload -> mapping -> start -> the job -> progress ->
error workbook; templates; refused files and sizes; who may see and start what."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from guanxi.app import create_app
from guanxi.auth.passwords import hash_password
from guanxi.imports import service
from guanxi.store.system_tables import import_run, user
from tests.imports.conftest import SECRET, MobileDuplicates, customers_named, write_xlsx
from tests.org import Org, build_org
from tests.web.conftest import PASSWORD, WebClient, form_token

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROWS = [
    ["客户名称", "公司名称", "Source", "手机号", "不要的列"],
    ["网页甲", "甲有限公司", "展会", "13711110001", "x"],
    ["网页乙", "乙有限公司", "Website", "12", "y"],
]


@pytest.fixture
def org(make_platform: Any, duplicates: MobileDuplicates) -> Org:
    platform = make_platform(
        secret_key=SECRET, plugins=[("test_dupes", duplicates)], import_max_mb=1
    )
    built = build_org(platform)
    with platform.db.unit_of_work() as connection:
        connection.execute(sa.update(user).values(password_hash=hash_password(PASSWORD)))
    return built


@pytest.fixture
def login(org: Org) -> Iterator[Callable[[str], WebClient]]:
    app = create_app(org.platform)
    clients: list[TestClient] = []

    def log_in(username: str) -> WebClient:
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": form_token(page.text)},
        )
        assert answer.status_code == 303, answer.text
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/").text)
        assert found
        return WebClient(client, found.group(1))

    yield log_in
    for client in clients:
        client.__exit__(None, None, None)


def upload(web: WebClient, entity: str, name: str, body: bytes, **fields: str) -> Any:
    return web.client.post(
        f"/import/{entity}",
        files={"file": (name, body, XLSX)},
        data={"csrf_token": web.csrf, "policy": "skip", **fields},
    )


def xlsx_bytes(tmp_path: Path, rows: list[list[Any]]) -> bytes:
    return write_xlsx(tmp_path / "upload.xlsx", rows).read_bytes()


def test_upload_map_start_progress_and_error_workbook(
    org: Org, login: Callable[[str], WebClient], tmp_path: Path
) -> None:  # DATA-09
    web = login("rep_east")
    page = web.get("/import/customer")
    assert page.status_code == 200 and 'id="upload-form"' in page.text
    answer = upload(web, "customer", "客户导入.xlsx", xlsx_bytes(tmp_path, ROWS))
    assert answer.status_code == 303, answer.text
    mapping_url = answer.headers["location"]
    import_id = int(mapping_url.split("/")[2])
    mapping = web.get(mapping_url)
    assert mapping.status_code == 200
    assert re.search(r'name="map.2">.*?<option value="source" selected', mapping.text, re.S)
    assert "网页甲" in mapping.text  # sample values
    chosen = {
        "map.0": "name",
        "map.1": "company",
        "map.2": "source",
        "map.3": "mobile",
        "map.4": "",
        "policy": "skip",
        "save_mapping": "on",
    }
    started = web.post(mapping_url, chosen)
    assert started.status_code == 303 and started.headers["location"] == f"/import/{import_id}"
    queued = web.get(f"/import/{import_id}")
    assert 'data-status="queued"' in queued.text and 'hx-trigger="every 1s"' in queued.text
    assert "cancel-import" in queued.text
    outcomes = org.platform.jobs.run_due()
    assert [o.status for o in outcomes if o.job == "imports.run"] == ["ok"]
    done = web.htmx_get(f"/import/{import_id}/progress")
    assert done.status_code == 200 and 'data-status="done"' in done.text
    assert "hx-trigger" not in done.text  # no more polling once finished
    assert re.search(r'data-count="created">1<', done.text)
    assert re.search(r'data-count="failed">1<', done.text)
    assert 'data-row="3"' in done.text
    workbook = web.get(f"/import/{import_id}/errors.xlsx")
    assert workbook.status_code == 200 and workbook.headers["content-type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[1][:4] == ["网页乙", "乙有限公司", "Website", "12"]
    assert rows[1][-2].startswith("手机号: ") and rows[1][-1] == 3
    assert not list(Path(org.platform.settings.imports_dir).iterdir())  # nothing left behind
    assert customers_named(org, "网页甲")[0]["mobile"] == "13711110001"
    listing = web.get("/import")
    assert f'data-import="{import_id}"' in listing.text


def test_error_workbook_is_for_the_owner_and_admins_only(
    org: Org, login: Callable[[str], WebClient], tmp_path: Path
) -> None:  # DATA-09
    rep = login("rep_east")
    answer = upload(rep, "customer", "a.xlsx", xlsx_bytes(tmp_path, ROWS))
    import_id = int(answer.headers["location"].split("/")[2])
    rep.post(
        f"/import/{import_id}/mapping",
        {"map.0": "name", "map.1": "company", "map.2": "source", "map.3": "mobile"},
    )
    org.platform.jobs.run_due()
    assert login("rep_north").get(f"/import/{import_id}/errors.xlsx").status_code == 404
    assert login("rep_north").get(f"/import/{import_id}").status_code == 404
    assert login("admin").get(f"/import/{import_id}/errors.xlsx").status_code == 200
    assert f'data-import="{import_id}"' not in login("rep_north").get("/import").text


def test_dry_run_then_run_for_real(
    org: Org, login: Callable[[str], WebClient], tmp_path: Path
) -> None:  # DATA-09
    web = login("rep_east")
    answer = upload(web, "customer", "dry.xlsx", xlsx_bytes(tmp_path, ROWS), dry_run="on")
    import_id = int(answer.headers["location"].split("/")[2])
    web.post(
        f"/import/{import_id}/mapping",
        {
            "map.0": "name",
            "map.1": "company",
            "map.2": "source",
            "map.3": "mobile",
            "dry_run": "on",
        },
    )
    org.platform.jobs.run_due()
    page = web.get(f"/import/{import_id}")
    assert 'id="dry-run-note"' in page.text and 'id="run-for-real"' in page.text
    assert customers_named(org, "网页甲") == []
    real = web.post(f"/import/{import_id}/run")
    assert real.status_code == 303
    org.platform.jobs.run_due()
    real_id = int(real.headers["location"].split("/")[2])
    assert service.get(org.platform, org.admin, real_id).created == 1
    assert len(customers_named(org, "网页甲")) == 1


def test_cancel_a_queued_import(
    org: Org, login: Callable[[str], WebClient], tmp_path: Path
) -> None:  # DATA-09
    web = login("rep_east")
    answer = upload(web, "customer", "c.xlsx", xlsx_bytes(tmp_path, ROWS))
    import_id = int(answer.headers["location"].split("/")[2])
    web.post(
        f"/import/{import_id}/mapping", {"map.0": "name", "map.1": "company", "map.2": "source"}
    )
    cancelled = web.post(f"/import/{import_id}/cancel", htmx=True)
    assert cancelled.status_code == 200 and 'data-status="cancelled"' in cancelled.text
    assert 'id="cancelled-note"' in cancelled.text
    assert [o for o in org.platform.jobs.run_due() if o.job == "imports.run"] == []
    assert customers_named(org, "网页甲") == []
    assert not list(Path(org.platform.settings.imports_dir).iterdir())


def test_templates_list_the_writable_fields_and_options(
    org: Org, login: Callable[[str], WebClient]
) -> None:  # DATA-09
    web = login("rep_east")
    answer = web.get("/import/customer/template.xlsx")
    assert answer.status_code == 200 and answer.headers["content-type"] == XLSX
    workbook = openpyxl.load_workbook(io.BytesIO(answer.content))
    header = [c.value for c in next(workbook.worksheets[0].iter_rows())]
    assert "客户名称 / Name*" in header and "线索来源 / Source*" in header
    assert not any(h.startswith("备注") for h in header)  # hidden from reps: not offered
    options = [[c.value for c in row] for row in workbook.worksheets[1].iter_rows()]
    assert "线索来源" in options[0] and options[1][
        options[0].index("线索来源") : options[0].index("线索来源") + 2
    ] == ["展会", "Exhibition"]
    csv_answer = web.get("/import/customer/template.csv")
    assert csv_answer.content.startswith(b"\xef\xbb\xbf")
    assert "客户名称 / Name*" in csv_answer.content.decode("utf-8-sig").splitlines()[0]


def test_the_template_imports_its_own_example_row(
    org: Org, login: Callable[[str], WebClient]
) -> None:  # DATA-09
    web = login("rep_east")
    body = web.get("/import/customer/template.xlsx").content
    answer = upload(web, "customer", "template.xlsx", body)
    import_id = int(answer.headers["location"].split("/")[2])
    draft = service.get(org.platform, org.actor("rep_east"), import_id)
    assert None not in draft.mapping  # every template column maps back to its field
    web.post(
        f"/import/{import_id}/mapping", {f"map.{i}": key for i, key in enumerate(draft.mapping)}
    )
    org.platform.jobs.run_due()
    run = service.get(org.platform, org.admin, import_id)
    assert (run.created, run.failed) == (1, 0), service.issue_rows(
        org.platform, import_id, "failed"
    )


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("old.xls", b"\xd0\xcf\x11\xe0junk", 415),
        ("fake.xlsx", b"a,b\n1,2\n", 415),
        ("photo.png", b"\x89PNG", 415),
        ("big.csv", b"a,b\n" + b"x" * (1024 * 1024 + 10), 413),
    ],
)
def test_wrong_or_large_files_are_refused_clearly(
    org: Org, login: Callable[[str], WebClient], name: str, body: bytes, status: int
) -> None:  # DATA-09
    web = login("rep_east")
    answer = upload(web, "customer", name, body)
    assert answer.status_code == status
    assert 'id="upload-error"' in answer.text
    with org.platform.db.read() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(import_run)).scalar() == 0
    assert not list(Path(org.platform.settings.imports_dir).glob("*"))


def test_users_who_may_not_create_cannot_import(
    org: Org, login: Callable[[str], WebClient], tmp_path: Path
) -> None:  # DATA-09, PERM-01
    agent = login("agent")
    assert agent.get("/import/customer").status_code == 403
    assert upload(agent, "customer", "a.xlsx", xlsx_bytes(tmp_path, ROWS)).status_code == 403
    assert agent.get("/import/customer/template.xlsx").status_code == 403
    assert agent.get("/import/nothing").status_code == 404


def test_english_upload_page_and_menu(
    org: Org, login: Callable[[str], WebClient]
) -> None:  # DATA-09, UI-11
    web = login("rep_east")
    web.post("/me/locale", {"locale": "en", "next": "/"})
    page = web.get("/import/customer")
    assert "Import Customer" in page.text and "Template (.xlsx)" in page.text
    assert 'href="/import"' in page.text  # the "Imports" menu entry
