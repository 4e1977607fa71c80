"""The SFA tests run the platform with the plugin registered, on the web conftest's
organisation (departments, reps, a manager) and logged-in clients."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import sqlalchemy as sa

import guanxi_sfa
from guanxi.auth.passwords import hash_password
from guanxi.store.system_tables import user
from tests.org import Org, build_org
from tests.web.conftest import PASSWORD, SECRET, login  # noqa: F401  (the fixture)

PLUGIN = ("guanxi_sfa", guanxi_sfa)


@pytest.fixture
def web_platform(make_platform: Any) -> Any:
    return make_platform(secret_key=SECRET, plugins=[PLUGIN])


@pytest.fixture
def sfa_org(web_platform: Any) -> Org:
    built = build_org(web_platform)
    with web_platform.db.unit_of_work() as connection:
        connection.execute(sa.update(user).values(password_hash=hash_password(PASSWORD)))
    return built


_SERIAL = itertools.count(1)
COMPANIES = ("恒达精密机械", "华瑞电子", "远景新材料", "博通物流", "天元医疗", "金石软件")


def lead_input(**extra: Any) -> dict[str, Any]:
    """A trade-fair lead; each call another company and mobile (the duplicate rules would
    rightly warn about a second lead from the same company)."""
    serial = next(_SERIAL)
    return {
        "name": "陈经理",
        "company": f"苏州{COMPANIES[serial % len(COMPANIES)]}{serial}号有限公司",
        "mobile": f"137{serial:08d}",
        "source": "exhibition",
        "source_detail": "2024春季广交会",
        "industry": "manufacturing",
        "region": "east",
        **extra,
    }
