"""Product screenshots for the README and the docs, from the real server and demo data.

    .venv/bin/python scripts/screenshots.py [--out docs/screens]

What it does, start to end:
  1. a fresh SQLite database in a temporary directory, the demo data (`guanxi demo`'s
     load_demo) and known passwords for an admin, the demo's sales manager (manager01) and
     the rep whose notification centre has the most due reminders;
  2. `python -m guanxi.cli serve` on 127.0.0.1:<free port> with its own secret key file
     (as tests/browser/conftest.py's live_server does);
  3. Debian's Chromium (GUANXI_CHROMIUM, default /usr/bin/chromium) through Playwright's
     sync API, fresh profile, signs in and saves one PNG per screen (viewport only,
     device scale factor 1) into --out;
  4. stops the server and removes the temporary directory.

Screens: home, list, filters, detail, detail-timeline, form-errors, kanban, notifications,
admin-fields, admin-permissions, admin-permissions-fields (1440x900), list-phone,
detail-phone (375x812) and list-en (?lang=en).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(ROOT))  # tests.browser.serve: the same server start as the browser tests

from tests.browser import serve  # noqa: E402

CHROMIUM = os.environ.get("GUANXI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 812}
LOCALE = "zh-CN"
TIMEOUT_MS = 15_000
SERVER_START_TIMEOUT = 30.0
ADMIN = "admin"
MANAGER = "manager01"  # the demo's sales manager (guanxi/demo.py)

# The customer list as the screenshots show it: two conditions and a two-level sort.
LIST_FILTER = {
    "and": [
        {"field": "stage", "op": "in", "value": ["intention", "negotiating"]},
        {"field": "level", "op": "in", "value": ["S", "A"]},
    ]
}
LIST_SORT = "level,-expected_value"
# Columns that show what the filter and the sort act on (the defaults show neither).
LIST_COLUMNS = "name,company,stage,level,expected_value,owner_id,next_followup_at,mobile"


@dataclass
class Accounts:
    passwords: dict[str, str]
    notified_user: str  # whose notification centre is shown
    customer_id: int  # the customer whose detail page and form are shown


def log(message: str) -> None:
    print(f"[screenshots] {message}", flush=True)


# -- data --------------------------------------------------------------------------------------


def prepare_database(env: dict[str, str]) -> Accounts:
    """Tables, demo data and known passwords, in-process on the server's database."""
    from guanxi import notifications
    from guanxi.actor import Actor
    from guanxi.auth import identity
    from guanxi.core import Guanxi
    from guanxi.demo import load_demo
    from guanxi.settings import Settings

    settings = Settings.from_env(
        database_url=env["GUANXI_DATABASE_URL"],
        database_schema=None,
        plugins_toml=Path(env["GUANXI_PLUGINS_TOML"]),
        secret_key=None,
        secret_key_file=Path(env["GUANXI_SECRET_KEY_FILE"]),
        attachments_dir=Path(env["GUANXI_ATTACHMENTS_DIR"]),
    )
    platform = Guanxi.create(settings)
    try:
        platform.start()
        started = time.monotonic()
        counts = load_demo(platform)
        log(
            "demo data: "
            + ", ".join(f"{v} {k}" for k, v in counts.items())
            + f" ({time.monotonic() - started:.1f} s)"
        )
        system = Actor.system()
        passwords: dict[str, str] = {}

        def password_for(username: str) -> None:
            password = f"Gx-{secrets.token_urlsafe(12)}"
            user_id = identity.user_id_for(platform.db, username)
            platform.login.set_password(system, user_id, password)  # checks the policy
            passwords[username] = password

        admin_id = identity.create_user(platform.db, ADMIN, "系统管理员")
        platform.permissions.assign_role(system, admin_id, "admin")
        password_for(ADMIN)
        password_for(MANAGER)

        # The manager owns no tasks, so their centre is empty: show the rep with most due.
        reps = [u["username"] for u in identity.list_users(platform.db)]
        reps = [name for name in reps if name.startswith("rep")]
        notified = max(
            reps,
            key=lambda name: (
                len(notifications.entries(platform.db, identity.actor_for(platform.db, name))),
                name,
            ),
        )
        password_for(notified)
        return Accounts(passwords, notified, _richest_customer(platform))
    finally:
        platform.close()


def _richest_customer(platform: Any) -> int:
    """A customer with contacts, several follow-ups, a task and a note: a full detail page."""
    import sqlalchemy as sa

    query = sa.text(
        """
        SELECT c.id,
               (SELECT count(*) FROM e_contact x WHERE x.customer = c.id) AS contacts,
               (SELECT count(*) FROM e_followup f WHERE f.customer = c.id) AS followups,
               (SELECT count(*) FROM e_task t WHERE t.customer = c.id) AS tasks,
               (SELECT count(*) FROM e_note n WHERE n.customer = c.id) AS notes
          FROM e_customer c
        """
    )
    with platform.db.read() as connection:
        rows = connection.execute(query).all()
    best = max(
        rows,
        key=lambda r: (
            min(r.tasks, 1) + min(r.notes, 1) + min(r.contacts, 2) / 2,
            r.followups,
            -r.id,
        ),
    )
    return int(best.id)


# -- the server --------------------------------------------------------------------------------


@contextmanager
def server(env: dict[str, str], workdir: Path) -> Iterator[str]:
    """`guanxi serve` (one worker) on a free loopback port; yields its base URL."""
    process, url, log_path = serve.start(env, workdir, "server.log")
    try:
        problem = serve.wait_until_up(process, url, log_path, SERVER_START_TIMEOUT)
        if problem is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
            raise SystemExit(f"guanxi serve did not come up: {problem}\n{tail}")
        log(f"server up at {url} (pid {process.pid})")
        yield url
    finally:
        serve.stop(process)
        log("server stopped")
        errors = [
            line
            for line in log_path.read_text(errors="replace").splitlines()
            if "Traceback" in line or " 500 " in line
        ]
        if errors:
            log("the server log shows errors:\n  " + "\n  ".join(errors[:20]))


# -- the browser -------------------------------------------------------------------------------


class Shooter:
    def __init__(self, browser: Any, base: str, accounts: Accounts, out: Path) -> None:
        self.browser = browser
        self.base = base
        self.accounts = accounts
        self.out = out
        self.saved: list[Path] = []
        self._contexts: dict[tuple[str, str], Any] = {}

    def page(self, username: str, viewport: dict[str, int] = DESKTOP) -> Any:
        """A signed-in page for `username` (one browser context per user and size)."""
        phone = viewport["width"] < 600
        key = (username, "phone" if phone else "desktop")
        if key not in self._contexts:
            context = self.browser.new_context(
                viewport=viewport,
                device_scale_factor=1,
                is_mobile=phone,
                has_touch=phone,
                locale=LOCALE,
                timezone_id="Asia/Shanghai",
            )
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.goto(f"{self.base}/login")
            page.fill("#username", username)
            page.fill("#password", self.accounts.passwords[username])
            with page.expect_navigation():
                page.click("button[type=submit]")
            if "/login" in page.url:
                raise SystemExit(f"could not sign in as {username}")
            self._contexts[key] = context
        context = self._contexts[key]
        return context.pages[0]

    def go(self, page: Any, path: str) -> None:
        response = page.goto(self.base + path, wait_until="networkidle")
        if response is None or response.status >= 400:
            status = response.status if response else "no response"
            log(f"warning: {path} answered {status}")

    def save(self, page: Any, name: str) -> None:
        settle(page)
        path = self.out / f"{name}.png"
        page.screenshot(path=str(path), full_page=False, animations="disabled", caret="hide")
        self.saved.append(path)
        where = page.url.removeprefix(self.base).split("?")[0]
        log(f"{path.name}: {where} ({path.stat().st_size // 1024} KB)")

    def close(self) -> None:
        for context in self._contexts.values():
            context.close()


def settle(page: Any) -> None:
    """Wait until htmx has nothing in flight and fonts are ready."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request') && document.fonts.status === 'loaded'"
    )
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(200)


def list_path(**extra: str) -> str:
    params = {
        "filter": json.dumps(LIST_FILTER, separators=(",", ":")),
        "sort": LIST_SORT,
        "cols": LIST_COLUMNS,
        **extra,
    }
    return "/r/customer?" + urlencode(params)


def wait_for_detail(page: Any) -> None:
    """The four zones: fields, related panels, timeline and history all loaded."""
    page.wait_for_function(
        """() => {
            const timeline = document.querySelector('#timeline');
            const history = document.querySelector('#history');
            const loading = [...document.querySelectorAll('.related-panel .panel-body.muted')];
            return timeline && timeline.children.length > 0
                && history && !history.querySelector(':scope > .muted:only-child')
                && loading.every(el => !/…|\\.\\.\\./.test(el.textContent));
        }"""
    )


def shoot_all(shoot: Shooter) -> None:
    customer = shoot.accounts.customer_id
    detail = f"/r/customer/{customer}"

    page = shoot.page(MANAGER)
    shoot.go(page, "/")
    shoot.save(page, "home")

    shoot.go(page, list_path())
    shoot.save(page, "list")

    page.click(".filter-panel > summary")
    page.wait_for_selector(".filter-panel[open] .filter-builder", state="visible")
    shoot.save(page, "filters")

    shoot.go(page, detail)
    wait_for_detail(page)
    shoot.save(page, "detail")
    # Below the fold at 1440x900 (after the related records): the timeline.
    page.evaluate(
        "() => window.scrollTo(0, document.querySelector('#timeline')"
        ".getBoundingClientRect().top + window.scrollY - 70)"
    )
    shoot.save(page, "detail-timeline")

    shoot.go(page, f"{detail}/edit")
    page.fill("#f-name", "")
    page.fill("#f-email", "zhang.wei@example")
    with page.expect_navigation():
        page.click("form.record-form button[type=submit]")
    invalid = page.locator("[aria-invalid=true]").first
    if invalid.count():
        invalid.scroll_into_view_if_needed()
    else:
        log("warning: the edit form shows no field marked invalid")
    shoot.save(page, "form-errors")

    shoot.go(page, "/r/customer/board")
    shoot.save(page, "kanban")

    page = shoot.page(shoot.accounts.notified_user)
    shoot.go(page, "/notifications")
    shoot.save(page, "notifications")

    page = shoot.page(ADMIN)
    shoot.go(page, "/admin/modules/customer")
    shoot.save(page, "admin-fields")
    shoot.go(page, "/admin/roles/sales_rep")
    shoot.save(page, "admin-permissions")
    # One module's field levels (and record rules), further down the role page.
    shoot.go(page, "/admin/roles/sales_rep/modules/customer")
    heading = page.get_by_role("heading", name="模块的字段与记录权限")
    if heading.count():
        page.evaluate(
            "(top) => window.scrollTo(0, top + window.scrollY - 70)",
            heading.first.bounding_box()["y"],
        )
    else:
        log("warning: no 模块的字段与记录权限 heading on the role's module page")
    shoot.save(page, "admin-permissions-fields")

    page = shoot.page(MANAGER, PHONE)
    shoot.go(page, list_path())
    shoot.save(page, "list-phone")
    shoot.go(page, detail)
    wait_for_detail(page)
    shoot.save(page, "detail-phone")

    page = shoot.page(MANAGER)
    shoot.go(page, list_path(lang="en"))
    shoot.save(page, "list-en")


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "screens", help="where the PNGs go"
    )
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        raise SystemExit(f"Chromium not found at {CHROMIUM} (set GUANXI_CHROMIUM)")

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="guanxi-shots-") as temp:
        workdir = Path(temp)
        (workdir / "var").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
        env.update(
            {
                "GUANXI_DATABASE_URL": f"sqlite:///{workdir / 'guanxi.db'}",
                "GUANXI_PLUGINS_TOML": str(ROOT / "plugins.toml"),
                "GUANXI_SECRET_KEY_FILE": str(workdir / "var" / "secret_key"),
                "GUANXI_ATTACHMENTS_DIR": str(workdir / "var" / "attachments"),
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT / "platform"), env.get("PYTHONPATH", "")) if p
                ),
                "PYTHONUNBUFFERED": "1",
            }
        )
        accounts = prepare_database(env)
        log(
            f"detail page: customer {accounts.customer_id}; notifications of {accounts.notified_user}"
        )
        with server(env, workdir) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            shoot = Shooter(browser, base, accounts, out)
            try:
                shoot_all(shoot)
            finally:
                shoot.close()
                browser.close()
    log(f"{len(shoot.saved)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
