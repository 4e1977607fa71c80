"""Fixtures for the browser tests: the real `guanxi serve` on this test's database, driven by
Debian's Chromium through Playwright's sync API (see docs/testing.md).

- `live_server`: an admin in this test's database, then `guanxi serve` (a subprocess) on a
  free loopback port; `.platform()` and `.add_user()` arrange more data in-process.
- `browser`: one headless Chromium per pytest process (per xdist worker).
- `page` / `make_page`: a fresh browser context (cookies, storage) per test.
- `login(page, live_server, username, password)`: sign in through the form.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.core import Guanxi
from tests.browser import serve
from tests.conftest import PlatformFactory
from tests.conftest import TestDatabase as DatabaseFixture  # a Test* name would be collected

CHROMIUM = os.environ.get("GUANXI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in containers/CI; the pages are our own
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}
LOCALE = "zh-CN"
ACTION_TIMEOUT_MS = 10_000  # Playwright waits this long for an element or a navigation
SERVER_START_TIMEOUT = 20.0  # seconds until GET /healthz must answer 200
PORT_ATTEMPTS = 3  # another process may grab the free port between choosing and binding
ADMIN = "admin"
SESSION_COOKIES = {"guanxi_session", "__Host-guanxi_session"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


# -- the server -----------------------------------------------------------------------------


@dataclass
class LiveServer:
    """`guanxi serve` on this test's database; arrange data in-process with .platform()."""

    admin_username: str
    admin_password: str
    _make_platform: PlatformFactory = field(repr=False)
    url: str = ""  # http://127.0.0.1:PORT, without a trailing slash
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_path: Path | None = None
    _platform: Guanxi | None = field(default=None, repr=False)

    def platform(self) -> Guanxi:
        """A started platform on the server's database (same schemas, plugins.toml)."""
        if self._platform is None:
            self._platform = self._make_platform()
        return self._platform

    def add_user(
        self,
        username: str,
        password: str,
        role: str | None = None,
        *,
        department: str | int | None = None,
        display_name: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> int:
        """Create a user who can sign in with `password` and holds `role`; the user's id.

        `department` is a department id, or a name (created under the root if missing)."""
        platform = self.platform()
        system = Actor.system()
        user_id = identity.create_user(
            platform.db,
            username,
            display_name or username,
            department_id=self._department_id(department),
            attributes=attributes,
        )
        platform.login.set_password(system, user_id, password)  # checks the password policy
        if role:
            platform.permissions.assign_role(system, user_id, role)
        return user_id

    def _department_id(self, department: str | int | None) -> int | None:
        if department is None or isinstance(department, int):
            return department
        db = self.platform().db
        for row in identity.list_departments(db):
            if row["name"] == department:
                return int(row["id"])
        return identity.create_department(db, department)

    def log(self) -> str:
        """What the server printed so far (stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the server (kill it if it has not exited after 15 s)."""
        serve.stop(self.process)


def _server_env(test_db: DatabaseFixture, workdir: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    return {
        **inherited,
        **test_db.env(),
        # The same file make_platform uses (missing: every installed plugin is enabled).
        "GUANXI_PLUGINS_TOML": str(workdir.parent / "plugins.toml"),
        "GUANXI_SECRET_KEY_FILE": str(workdir / "var" / "secret_key"),
        "PYTHONUNBUFFERED": "1",
    }


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def live_server(
    test_db: DatabaseFixture, make_platform: PlatformFactory, tmp_path: Path
) -> Iterator[LiveServer]:
    """The database initialised with an admin (`admin`, random password), then `guanxi serve`
    on 127.0.0.1:<free port>: one worker, no demo data, its own secret key; stopped after the
    test."""
    server = LiveServer(ADMIN, f"Gx-{secrets.token_urlsafe(12)}", make_platform)
    # What `guanxi init --admin admin` does, in-process: tables (the platform starts with a
    # sync) and an admin. Saves a second interpreter start per test; test_cli covers init.
    server.add_user(ADMIN, server.admin_password, "admin")
    workdir = tmp_path / "server"
    workdir.mkdir()
    env = _server_env(test_db, workdir)
    problems = []
    try:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            server.process, server.url, server.log_path = serve.start(
                env, workdir, f"server-{attempt}.log"
            )
            problem = serve.wait_until_up(
                server.process, server.url, server.log_path, SERVER_START_TIMEOUT
            )
            if problem is None:
                break
            server.stop()
            log = server.log()
            problems.append(f"attempt {attempt}: {problem}\n{_tail(log)}")
            if "address already in use" not in log.lower():
                break
        else:
            problem = "no free port"
        if problem is not None:
            pytest.fail("guanxi serve did not come up:\n" + "\n\n".join(problems), pytrace=False)
        yield server
    finally:
        server.stop()


# -- the browser ----------------------------------------------------------------------------


class _Driver:
    """Playwright's sync API and the Chromium it launched, shared by the tests of this process.

    While the sync API is started, the thread counts as running Playwright's event loop, so
    asyncio.run() in a later, unrelated test of the same xdist worker would fail. Between
    browser tests the loop is therefore parked (unmarked) and marked again before use."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        if asyncio._get_running_loop() is not None:
            pytest.fail("Playwright's sync API cannot run inside a running asyncio loop")
        self.playwright = sync_playwright().start()
        self.loop = asyncio._get_running_loop()
        try:
            self.browser = self.playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Exception:
            self.playwright.stop()
            raise
        self.park()

    def resume(self) -> None:
        if self.loop is not None:
            asyncio._set_running_loop(self.loop)

    def park(self) -> None:
        if self.loop is not None and asyncio._get_running_loop() is self.loop:
            asyncio._set_running_loop(None)

    def close(self) -> None:
        self.resume()
        try:
            self.browser.close()
        finally:
            self.playwright.stop()  # ends the loop; the thread has no running loop afterwards


_DRIVER: list[_Driver] = []  # this process's driver, once the first browser test started it


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The headless Chromium of this pytest process (one per xdist worker), launched with a
    fresh temporary profile; skipped without Chromium, a failure when CI=true."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        reason = (
            f"Chromium not found at {CHROMIUM} (set GUANXI_CHROMIUM, or apt-get install "
            "chromium fonts-noto-cjk; bash scripts/test.sh installs them)"
        )
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    driver = _Driver()
    _DRIVER.append(driver)
    try:
        yield driver.browser
    finally:
        _DRIVER.remove(driver)
        driver.close()


@pytest.fixture(autouse=True)
def _playwright_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Mark Playwright's loop as running for a browser test, unmark it afterwards."""
    if "browser" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("browser")
    driver = _DRIVER[0]
    driver.resume()
    try:
        yield
    finally:
        driver.park()


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(node: pytest.Item) -> bool:
    reports = node.stash.get(_REPORTS, {})
    return any(r.failed for r in reports.values())


@pytest.fixture
def make_page(
    browser: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Any]]:
    """make_page(**context_options): a page in a new context (defaults: 1280x800, zh-CN).
    Closed after the test; if the test failed, each page is saved as a screenshot first."""
    contexts: list[Any] = []

    def factory(**options: Any) -> Any:
        context = browser.new_context(**{"viewport": VIEWPORT, "locale": LOCALE, **options})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield factory
    for index, context in enumerate(contexts):
        if _failed(request.node):
            for number, page in enumerate(context.pages):
                path = tmp_path / f"failure-{index}-{number}.png"
                try:
                    page.screenshot(path=str(path), full_page=True)
                    print(f"screenshot of {page.url}: {path}")
                except Exception as error:  # a crashed page must not hide the failure
                    print(f"no screenshot of {page.url}: {error}")
        context.close()


@pytest.fixture
def page(make_page: Callable[..., Any]) -> Any:
    """A page in a fresh context: 1280x800, locale zh-CN, no cookies."""
    return make_page()


def login(page: Any, live_server: LiveServer, username: str, password: str) -> None:
    """Sign in through the form at /login and wait for the page the form leads to."""
    page.goto(f"{live_server.url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
