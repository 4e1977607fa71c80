"""Fixtures: every test gets its own empty database — a SQLite file, or (when
GUANXI_TEST_DATABASE_URL is set) its own PostgreSQL schema in the shared test database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.core import Guanxi
from guanxi.settings import Settings
from guanxi.store.db import Database, normalize_url

PG_URL = os.environ.get("GUANXI_TEST_DATABASE_URL")
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


def pytest_report_header() -> str:
    return f"guanxi database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (temporary files)'}"


class TestDatabase:
    """Where one test's data lives; `url` + `schema` are what a second engine or process needs."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, tmp_path: Path) -> None:
        if PG_URL:
            self.url = PG_URL
            self.schema: str | None = f"t_{uuid.uuid4().hex[:16]}"
            with sa.create_engine(normalize_url(PG_URL)).begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA "{self.schema}"')
        else:
            self.url = f"sqlite:///{tmp_path / 'guanxi.db'}"
            self.schema = None
        self._databases: list[Database] = []
        self.key_file = tmp_path / "encryption.keys"  # every process of a test shares one key
        self.backup_dir = tmp_path / "backups"  # never the checkout's var/backups
        self.imports_dir = tmp_path / "imports"

    @property
    def dialect(self) -> str:
        return "postgresql" if PG_URL else "sqlite"

    def env(self) -> dict[str, str]:
        env = {
            "GUANXI_DATABASE_URL": self.url,
            "GUANXI_ENCRYPTION_KEY_FILE": str(self.key_file),
            "GUANXI_BACKUP_DIR": str(self.backup_dir),
            "GUANXI_BACKUP_DAILY": "0",  # a test server must not write daily archives
            "GUANXI_IMPORTS_DIR": str(self.imports_dir),
        }
        if self.schema:
            env["GUANXI_DATABASE_SCHEMA"] = self.schema
        return env

    def database(self) -> Database:
        database = Database.from_url(self.url, schema=self.schema)
        self._databases.append(database)
        return database

    def drop(self) -> None:
        for database in self._databases:
            database.dispose()
        if self.schema:
            engine = sa.create_engine(normalize_url(PG_URL or ""))
            with engine.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{self.schema}" CASCADE')
            engine.dispose()


@pytest.fixture
def test_db(tmp_path: Path) -> Iterator[TestDatabase]:
    database = TestDatabase(tmp_path)
    yield database
    database.drop()


PlatformFactory = Callable[..., Guanxi]


@pytest.fixture
def make_platform(test_db: TestDatabase, tmp_path: Path) -> Iterator[PlatformFactory]:
    """Build (and start) platforms on this test's database; several may share it."""
    made: list[Guanxi] = []

    def factory(
        *,
        plugins: list[tuple[str, Any]] | None = None,
        plugin_config: dict[str, Any] | None = None,
        schema_dir: Path | None = None,
        start: bool = True,
        **settings: Any,
    ) -> Guanxi:
        # Tests run jobs themselves (platform.jobs.run_due); no background thread races them.
        settings.setdefault("jobs_in_web", False)
        # Keys, backups and uploaded imports of this test stay in its own directory.
        settings.setdefault("encryption_key_file", test_db.key_file)
        settings.setdefault("backup_dir", tmp_path / "backups")
        settings.setdefault("imports_dir", tmp_path / "imports")
        settings.setdefault("attachments_dir", tmp_path / "attachments")
        config = Settings(
            database_url=test_db.url,
            database_schema=test_db.schema,
            schema_dir=schema_dir or SCHEMA_DIR,
            plugins_toml=tmp_path / "plugins.toml",
            plugin_config=plugin_config or {},
            **settings,
        )
        platform = Guanxi.create(
            config, plugins=plugins or [], entry_points=False, db=test_db.database()
        )
        if start:
            platform.start()
        made.append(platform)
        return platform

    yield factory
    for platform in made:
        platform.close()


@pytest.fixture
def platform(make_platform: PlatformFactory) -> Guanxi:
    return make_platform()


@pytest.fixture
def system() -> Actor:
    return Actor.system()


def customer_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "张三",
        "company": "上海星辰科技有限公司",
        "source": "exhibition",
        "mobile": "13812345678",
    }
    data.update(overrides)
    return data
