"""Plugins: a real third-party distribution found through its entry point, plugins.toml
(enable + settings), problems reported by plugin name, and in-process plugins using the
read and delete hooks.

The fixture distributions live in tests/fixtures/ and are pip-installed once per session into
a temporary --target directory, which each test puts on sys.path only while it runs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.api import Actor, EntityDef, NotFound, ValidationFailed, hookimpl
from guanxi.core import Guanxi
from guanxi.errors import PluginError
from guanxi.plugins import DEFAULT_PLUGINS, load_plugins
from guanxi.settings import Settings
from tests.conftest import SCHEMA_DIR, customer_data
from tests.conftest import TestDatabase as DatabaseFixture  # a Test* name would be collected

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pip_install(distribution: str, workdir: Path) -> Path:
    """Install tests/fixtures/<distribution> into workdir/site and return that directory."""
    source = workdir / "src"
    # pip builds in-tree (build/, *.egg-info): use a private copy so the repository stays clean
    # and two xdist workers never build in the same directory.
    shutil.copytree(FIXTURES / distribution, source)
    target = workdir / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"pip install {distribution} failed:\n{output}"
    assert list(target.glob(f"{distribution}-*.dist-info")), f"no dist-info in {target}"
    return target


@pytest.fixture(scope="session")
def hello_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pip_install("guanxi_hello", tmp_path_factory.mktemp("guanxi_hello"))


@pytest.fixture(scope="session")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pip_install("guanxi_broken", tmp_path_factory.mktemp("guanxi_broken"))


def _activate(site: Path, module: str) -> Iterator[None]:
    """Make an installed distribution visible to imports and entry points for one test only,
    so no other test in this worker finds it, and each test imports a fresh module."""
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()  # also drops importlib.metadata's cached directory listings
    try:
        yield
    finally:
        sys.path.remove(str(site))
        for name in [n for n in sys.modules if n == module or n.startswith(module + ".")]:
            del sys.modules[name]
        importlib.invalidate_caches()


@pytest.fixture
def hello(hello_site: Path) -> Iterator[None]:
    yield from _activate(hello_site, "guanxi_hello")


@pytest.fixture
def broken(broken_site: Path) -> Iterator[None]:
    yield from _activate(broken_site, "guanxi_broken")


def hello_module() -> ModuleType:
    return importlib.import_module("guanxi_hello")  # the object load_plugins registered


def settings_for(
    test_db: DatabaseFixture, tmp_path: Path, config: dict[str, Any] | None
) -> Settings:
    return Settings(
        database_url=test_db.url,
        database_schema=test_db.schema,
        schema_dir=SCHEMA_DIR,
        plugins_toml=tmp_path / "plugins.toml",
        plugin_config=config or {},
    )


@pytest.fixture
def make_installed(
    test_db: DatabaseFixture, tmp_path: Path, hello: None
) -> Iterator[Callable[..., Guanxi]]:
    """Like conftest's make_platform, but entry points on: installed plugins load."""
    made: list[Guanxi] = []

    def factory(config: dict[str, Any] | None = None, *, start: bool = True) -> Guanxi:
        platform = Guanxi.create(
            settings_for(test_db, tmp_path, config), entry_points=True, db=test_db.database()
        )
        made.append(platform)
        if start:
            platform.start()
        return platform

    yield factory
    for platform in made:
        platform.close()


# -- a third-party distribution through its entry point ---------------------------------------


def test_installed_plugin_is_found_through_its_entry_point(hello: None) -> None:
    found = {ep.name: ep for ep in importlib.metadata.entry_points(group="guanxi")}
    assert "guanxi_hello" in found
    assert found["guanxi_hello"].value == "guanxi_hello"
    assert found["guanxi_hello"].dist is not None
    assert found["guanxi_hello"].dist.name == "guanxi-hello"


def test_installed_plugin_is_listed_with_its_hooks(make_installed: Callable[..., Guanxi]) -> None:
    platform = make_installed()
    info = platform.plugins.plugins["guanxi_hello"]
    assert info.enabled and info.problem is None
    assert info.source == "entry point (guanxi-hello)"
    assert info.hooks == [
        "prepare_record",
        "record_changed",
        "register_schemas",
        "validate_record",
    ]
    assert platform.pm.get_plugin("guanxi_hello") is hello_module()
    for name in DEFAULT_PLUGINS:  # core features register through the same manager
        assert platform.plugins.plugins[name].source == "core"


def test_plugin_entity_gets_a_table_and_takes_records(
    make_installed: Callable[..., Guanxi], system: Actor
) -> None:  # CORE-01: entities contributed by plugins
    platform = make_installed(start=False)
    report = platform.start()
    assert "e_greeting" in report.created_tables
    with platform.db.read() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("e_greeting")}
    assert {"id", "number", "text", "language", "version"} <= columns
    entity = platform.registry.get("greeting")
    assert entity.label == {"zh-CN": "问候", "en": "Greeting"}
    assert [o.code for o in entity.field("language").options] == ["zh", "en"]

    first = platform.records.create(system, "greeting", {"text": "世界"})
    platform.records.create(system, "greeting", {"text": "Hello, world", "language": "en"})
    assert first["number"] == "HI0001"
    assert first["language"] == "zh"  # the schema default
    english = platform.records.query(system, "greeting", {"field": "language", "value": "en"})
    assert [r["text"] for r in english.rows] == ["你好Hello, world"]
    assert platform.records.count(system, "greeting").value == 2
    assert platform.records.get(system, "greeting", first["id"])["text"] == "你好世界"


def test_plugin_rule_rejects_with_zh_and_en_messages(
    make_installed: Callable[..., Guanxi], system: Actor
) -> None:  # CORE-05: messages in Chinese and English
    platform = make_installed()
    with pytest.raises(ValidationFailed) as caught:
        platform.records.create(system, "greeting", {"text": "坏天气"})
    (error,) = caught.value.errors
    assert (error.field, error.code) == ("text", "rude")
    assert error.to_dict()["messages"] == {
        "zh-CN": "问候语不能包含“坏”",
        "en": "A greeting must not contain '坏'",
    }
    assert platform.records.count(system, "greeting").value == 0


def test_record_changed_sees_the_committed_record(
    make_installed: Callable[..., Guanxi], system: Actor
) -> None:
    platform = make_installed()
    module = hello_module()
    assert module.events == []
    created = platform.records.create(system, "greeting", {"text": "早上好"})
    updated = platform.records.update(
        system, "greeting", created["id"], {"language": "en"}, version=created["version"]
    )
    platform.records.delete(system, "greeting", created["id"])
    assert module.events == [
        {"op": "create", "record_id": created["id"], "text": "你好早上好", "committed": True},
        {"op": "update", "record_id": updated["id"], "text": "你好早上好", "committed": True},
        {"op": "delete", "record_id": created["id"], "text": None, "committed": None},
    ]
    with pytest.raises(ValidationFailed):
        platform.records.create(system, "greeting", {"text": "坏"})
    assert len(module.events) == 3  # nothing is announced for a write that never happened


def test_plugin_settings_default_from_settings_schema(
    make_installed: Callable[..., Guanxi], system: Actor
) -> None:  # UI-09: plugins and their settings
    platform = make_installed()
    assert platform.plugins.settings("guanxi_hello") == {"prefix": "你好"}
    assert platform.records.create(system, "greeting", {"text": "朋友"})["text"] == "你好朋友"


def test_plugin_settings_override_from_plugins_toml(
    make_installed: Callable[..., Guanxi], system: Actor
) -> None:  # UI-09
    platform = make_installed({"guanxi_hello": {"enabled": True, "settings": {"prefix": "Hi, "}}})
    assert platform.plugins.settings("guanxi_hello") == {"prefix": "Hi, "}
    greeting = platform.records.create(system, "greeting", {"text": "Li Lei", "language": "en"})
    assert greeting["text"] == "Hi, Li Lei"
    already = platform.records.create(system, "greeting", {"text": "Hi, Han Meimei"})
    assert already["text"] == "Hi, Han Meimei"  # the prefix is not doubled


def test_plugins_toml_settings_file_reaches_the_plugin(
    hello: None, test_db: DatabaseFixture, tmp_path: Path, system: Actor
) -> None:  # UI-09: the same through a real plugins.toml and Settings.from_env
    toml = tmp_path / "plugins.toml"
    toml.write_text('[plugins.guanxi_hello.settings]\nprefix = "您好"\n', encoding="utf-8")
    settings = Settings.from_env(
        plugins_toml=toml,
        database_url=test_db.url,
        database_schema=test_db.schema,
        schema_dir=SCHEMA_DIR,
    )
    platform = Guanxi.create(settings, entry_points=True, db=test_db.database())
    platform.start()
    assert platform.records.create(system, "greeting", {"text": "王总"})["text"] == "您好王总"


def test_disabled_plugin_is_blocked(make_installed: Callable[..., Guanxi], system: Actor) -> None:
    platform = make_installed({"guanxi_hello": {"enabled": False}})
    info = platform.plugins.plugins["guanxi_hello"]
    assert (info.enabled, info.hooks, info.problem) == (False, [], None)
    assert platform.pm.is_blocked("guanxi_hello")
    assert "greeting" not in {e.name for e in platform.registry.entities()}
    with platform.db.read() as connection:
        assert "e_greeting" not in sa.inspect(connection).get_table_names()
    assert "guanxi_hello" not in sys.modules  # blocked before import: its code never ran


def test_invalid_plugin_settings_are_refused_naming_the_plugin(
    make_installed: Callable[..., Guanxi],
) -> None:
    config = {"guanxi_hello": {"settings": {"prefix": 5, "colour": "red"}}}
    with pytest.raises(PluginError) as caught:
        make_installed(config)
    assert caught.value.plugin == "guanxi_hello"
    message = str(caught.value)
    assert "guanxi_hello" in message
    assert "settings/prefix: 5 is not of type 'string'" in message
    assert "'colour' was unexpected" in message


def test_configured_but_not_installed_plugin_is_a_problem(
    make_installed: Callable[..., Guanxi],
) -> None:
    config = {"guanxi_hello": {}, "guanxi_wechat": {"enabled": True}}
    with pytest.raises(PluginError) as caught:
        make_installed(config)
    assert caught.value.plugin == "guanxi_wechat"
    assert "configured in plugins.toml but not installed" in str(caught.value)
    plugin_set = load_plugins(config)
    assert [p.plugin for p in plugin_set.problems] == ["guanxi_wechat"]
    assert plugin_set.plugins["guanxi_hello"].problem is None


# -- problems are reported per plugin, by name ------------------------------------------------


def test_plugin_failing_at_import_is_reported_by_name(
    broken: None, test_db: DatabaseFixture, tmp_path: Path
) -> None:
    plugin_set = load_plugins({})
    info = plugin_set.plugins["guanxi_broken"]
    assert info.source == "entry point (guanxi-broken)"
    assert info.problem == (
        "failed to load: ImportError: guanxi_broken needs the package 'no_such_sdk', "
        "which is not installed"
    )
    assert [p.plugin for p in plugin_set.problems] == ["guanxi_broken"]
    with pytest.raises(PluginError, match="guanxi_broken.*no_such_sdk"):
        Guanxi.create(settings_for(test_db, tmp_path, {}), entry_points=True, db=test_db.database())
    # enabled = false means the broken module is never imported, so start-up proceeds
    blocked = load_plugins({"guanxi_broken": {"enabled": False}})
    assert blocked.problems == []
    assert blocked.plugins["guanxi_broken"].enabled is False


class MisspelledHook:
    @hookimpl
    def record_chnaged(self, event: Any) -> None:
        raise AssertionError("never called")


def test_plugin_implementing_an_unknown_hook_is_reported(
    make_platform: Callable[..., Guanxi],
) -> None:
    plugin_set = load_plugins(
        {},
        extra=[("typo_plugin", MisspelledHook()), ("second_typo", MisspelledHook())],
        entry_points=False,
    )
    problems = {p.plugin: p.reason for p in plugin_set.problems}
    assert set(problems) == {"typo_plugin", "second_typo"}  # every one, not only the first
    assert "'record_chnaged', which is not a Guanxi hook" in problems["typo_plugin"]
    with pytest.raises(PluginError, match="typo_plugin"):
        make_platform(plugins=[("typo_plugin", MisspelledHook())])


# -- in-process plugins: read and delete hooks ------------------------------------------------


class HideOtherSource:
    """Every read of customers skips source = other (how a recycle bin hides binned rows)."""

    @hookimpl
    def query_conditions(self, actor: Actor, entity: EntityDef) -> list[dict[str, Any]] | None:
        if entity.name != "customer":
            return None
        return [{"field": "source", "op": "ne", "value": "other"}]


def test_query_conditions_hide_rows_from_every_read(
    make_platform: Callable[..., Guanxi], system: Actor
) -> None:  # BIN-01: gone from lists, search and counts
    plain = make_platform()
    hidden = plain.records.create(system, "customer", customer_data(name="隐藏", source="other"))
    shown = plain.records.create(
        system, "customer", customer_data(name="可见", mobile="13912345678")
    )
    plain.records.create(system, "contact", {"name": "联系人", "customer": hidden["id"]})

    platform = make_platform(plugins=[("hide_other", HideOtherSource())])
    assert platform.plugins.plugins["hide_other"].hooks == ["query_conditions"]
    page = platform.records.query(system, "customer")
    assert [r["id"] for r in page.rows] == [shown["id"]]
    assert platform.records.count(system, "customer").value == 1
    assert platform.records.query(system, "customer", search="隐藏").rows == []
    only_other = {"field": "source", "value": "other"}
    assert platform.records.count(system, "customer", only_other).value == 0
    assert platform.records.aggregate(system, "customer", group_by=["source"]) == [
        {"source": "exhibition", "count": 1}
    ]
    with pytest.raises(NotFound):
        platform.records.get(system, "customer", hidden["id"])
    with pytest.raises(NotFound):
        platform.records.update(system, "customer", hidden["id"], {"name": "改"}, version=1)
    with pytest.raises(NotFound):
        platform.records.delete(system, "customer", hidden["id"])
    assert platform.records.count(system, "contact").value == 1  # other entities are untouched
    assert plain.records.count(system, "customer").value == 2  # hidden, not deleted


class RecycleBin:
    def __init__(self) -> None:
        self.binned: list[tuple[str, int, str | None]] = []

    @hookimpl
    def delete_record(
        self, entity: EntityDef, record: dict[str, Any], actor: Actor, reason: str | None
    ) -> str | None:
        if entity.name != "customer":
            return None  # fall through: the core deletes
        self.binned.append((entity.name, record["id"], reason))
        return "binned"


def test_delete_record_plugin_takes_over_deletion(
    make_platform: Callable[..., Guanxi], system: Actor
) -> None:  # BIN-01: deletion moves records to the bin, the record is kept
    recycle_bin = RecycleBin()
    platform = make_platform(plugins=[("recycle_bin", recycle_bin)])
    customer = platform.records.create(system, "customer", customer_data())
    note = platform.records.create(system, "note", {"customer": customer["id"], "content": "回访"})

    outcome = platform.records.delete(system, "customer", customer["id"], reason="重复客户")
    assert outcome == "binned"
    assert recycle_bin.binned == [("customer", customer["id"], "重复客户")]
    kept = platform.records.get(system, "customer", customer["id"])
    assert kept["version"] == customer["version"]
    assert platform.records.get(system, "note", note["id"])["customer"] == customer["id"]
    assert [h["op"] for h in platform.records.history(system, "customer", customer["id"])] == [
        "create"
    ]
    # a plugin answering None leaves deletion to the core
    assert platform.records.delete(system, "note", note["id"]) == "deleted"
    with pytest.raises(NotFound):
        platform.records.get(system, "note", note["id"])


def test_admin_plugin_choices_are_live_in_every_worker(
    make_installed: Callable[..., Guanxi], system: Actor
) -> None:  # UI-09: settings and on/off saved on /admin/plugins reach every worker at once
    from guanxi.errors import ValidationFailed
    from guanxi.plugin_overrides import save_plugin

    platform = make_installed()
    other_worker = make_installed()
    save_plugin(platform, system, "guanxi_hello", True, {"prefix": "Hi, "})
    created = other_worker.records.create(system, "greeting", {"text": "friend"})
    assert created["text"] == "Hi, friend"  # no restart: the other process reads it per call
    with pytest.raises(ValidationFailed):
        save_plugin(platform, system, "guanxi_hello", True, {"prefix": "x" * 21})
    with pytest.raises(ValidationFailed):
        save_plugin(platform, system, "guanxi.defaults.stages", False, None)
    save_plugin(platform, system, "guanxi_hello", False, {"prefix": "Hi, "})
    plain = other_worker.records.create(system, "greeting", {"text": "friend"})
    assert plain["text"] == "friend"  # switched off: its prepare_record no longer runs
    assert other_worker.plugins.plugins["guanxi_hello"].enabled is False
    restarted = make_installed()  # a new process starts with the stored choice
    assert not restarted.pm.has_plugin("guanxi_hello")
    save_plugin(platform, system, "guanxi_hello", True, {"prefix": "Hi, "})
    assert other_worker.records.create(system, "greeting", {"text": "a"})["text"] == "Hi, a"
    assert restarted.records.create(system, "greeting", {"text": "b"})["text"] == "Hi, b"
