"""The recycle-bin tests run the platform with the plugin registered, on the web conftest's
organisation and logged-in clients."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import guanxi_recyclebin
from guanxi.auth.passwords import hash_password
from guanxi.store.system_tables import user
from tests.org import Org, build_org
from tests.web.conftest import PASSWORD, SECRET, login  # noqa: F401  (the fixture)

PLUGIN = ("guanxi_recyclebin", guanxi_recyclebin)


@pytest.fixture
def web_platform(make_platform: Any) -> Any:
    return make_platform(secret_key=SECRET, plugins=[PLUGIN])


@pytest.fixture
def bin_org(web_platform: Any) -> Org:
    built = build_org(web_platform)
    with web_platform.db.unit_of_work() as connection:
        connection.execute(sa.update(user).values(password_hash=hash_password(PASSWORD)))
    return built
