"""The platform object: settings, database, plugins, metadata and services wired together."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from guanxi.auth.authorizer import CasbinAuthorizer
from guanxi.auth.login import LoginService
from guanxi.auth.policies import Permissions
from guanxi.authorization import Authorizer
from guanxi.crypto.cipher import Cipher
from guanxi.crypto.keyring import load_ring, ring_loader
from guanxi.errors import PluginError, SchemaProblem
from guanxi.jobs import JobRunner
from guanxi.meta.admin import MetadataAdmin
from guanxi.meta.extensions import ExtensionError, apply_extensions
from guanxi.meta.field_types import FieldTypeRegistry
from guanxi.meta.loader import read_schema_dir
from guanxi.meta.registry import Registry
from guanxi.plugins import PluginSet, load_plugins
from guanxi.records import RecordService
from guanxi.settings import Settings
from guanxi.store.db import Database
from guanxi.store.sync import SyncReport, sync_system_tables, sync_table
from guanxi.validation import Validators


class Guanxi:
    """Build with Guanxi.create(settings); call start() once per process before serving."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        plugin_set: PluginSet,
        authorizer: Authorizer | None = None,
    ) -> None:
        problems = plugin_set.problems
        if problems:
            raise (
                problems[0]
                if len(problems) == 1
                else PluginError(
                    ", ".join(p.plugin for p in problems), "; ".join(str(p) for p in problems)
                )
            )
        plugin_set.manager.check_pending()
        self.settings = settings
        self.db = db
        self.plugins = plugin_set
        self.pm = plugin_set.manager
        self.types = FieldTypeRegistry()
        for types in self.pm.hook.register_field_types():
            for field_type in types or []:
                self.types.add(field_type)
        # DATA-12: sensitive fields are sealed with a key that never enters the database.
        self.cipher = Cipher(load_ring(settings), ring_loader(settings))
        self.registry = Registry(db, self.types, self._documents(), self.cipher)
        self.validators = Validators(self.types)
        self.authorizer: Authorizer = authorizer or CasbinAuthorizer(self.types, db)
        self.permissions = Permissions(self)
        self.records = RecordService(self)
        self.jobs = JobRunner(self)
        self.admin = MetadataAdmin(self)
        self.login = LoginService(self)
        from guanxi.plugin_overrides import PluginSwitch

        self.plugin_switch = PluginSwitch(self)
        self.registry.on_reload.append(self.plugin_switch.apply)

    @classmethod
    def create(
        cls,
        settings: Settings | None = None,
        *,
        plugins: Iterable[tuple[str, Any]] = (),
        entry_points: bool = True,
        db: Database | None = None,
    ) -> Guanxi:
        from guanxi.plugin_overrides import with_stored_choices

        settings = settings or Settings.from_env()
        db = db or Database.from_url(settings.database_url, schema=settings.database_schema)
        config = with_stored_choices(db, settings.plugin_config)  # admin choices on /admin/plugins
        plugin_set = load_plugins(config, extra=list(plugins), entry_points=entry_points)
        return cls(settings, db, plugin_set)

    def _documents(self) -> list[tuple[str, Any]]:
        documents = read_schema_dir(self.settings.schema_dir)
        for implementation in self.pm.hook.register_schemas.get_hookimpls():
            plugin = self.pm.get_name(implementation.plugin)
            for position, document in enumerate(implementation.function() or []):
                documents.append((f"plugin {plugin}: schema {position}", document))
        extensions = []
        for implementation in self.pm.hook.extend_schemas.get_hookimpls():
            plugin = self.pm.get_name(implementation.plugin)
            extensions.extend((plugin, extension) for extension in implementation.function() or [])
        try:
            return apply_extensions(documents, extensions)
        except ExtensionError as error:
            raise PluginError(error.plugin, str(error)) from error

    def start(self, *, sync: bool = True) -> SyncReport:
        """Create or upgrade tables (online, never dropping), then run startup hooks.

        Web workers pass sync=False: `guanxi serve` syncs once before it forks them.
        """
        report = self.sync() if sync else SyncReport()
        if sync:
            self.permissions.seed_defaults()
        else:
            self.permissions.load_contributions()
        self.pm.hook.startup(platform=self)
        return report

    def sync(self) -> SyncReport:
        sync_system_tables(self.db)
        self.registry.invalidate()
        snapshot = self.registry.snapshot()
        report = SyncReport()
        for implementation in self.pm.hook.register_tables.get_hookimpls():
            plugin = self.pm.get_name(implementation.plugin)
            for table in implementation.function() or []:
                if table.name.startswith(("gx_", "e_")):
                    raise PluginError(plugin, f"table {table.name!r}: gx_ and e_ are the core's")
                sync_table(self.db, table, report)
        for table in snapshot.tables.values():
            sync_table(self.db, table, report)
        return report

    def plugin_settings(self, name: str) -> dict[str, Any]:
        """A plugin's settings: plugins.toml (validated, schema defaults filled in), overlaid by
        what an admin saved on /admin/plugins (read per call, so changes are live)."""
        from guanxi.plugin_overrides import effective_settings

        return effective_settings(self, name)

    def close(self) -> None:
        from guanxi.auth import access_log

        access_log.close(self.db)  # pending view rows are written before the engine goes
        self.db.dispose()


def check_schema_files(settings: Settings, type_names: Iterable[str]) -> list[SchemaProblem]:
    from guanxi.meta.loader import check_documents

    return check_documents(read_schema_dir(settings.schema_dir), type_names)
