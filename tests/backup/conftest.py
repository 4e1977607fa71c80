"""A platform with realistic data for the backup tests (DATA-13)."""

from __future__ import annotations

from typing import Any

import pytest

from guanxi.core import Guanxi
from tests.backup.support import seed


@pytest.fixture
def seeded(make_platform: Any) -> Guanxi:
    platform = make_platform()
    seed(platform)
    return platform
