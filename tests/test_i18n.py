"""Every user-facing message has a zh-CN translation (CORE-10, UI-11)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from guanxi.i18n import Message, pick_label, translate

ROOT = Path(__file__).resolve().parents[1]


def _catalog_tool():
    spec = importlib.util.spec_from_file_location(
        "update_catalog", ROOT / "scripts" / "update_catalog.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_message_in_the_code_is_translated_to_chinese():
    msgids = _catalog_tool().extracted_msgids()
    assert len(msgids) > 50
    untranslated = sorted(m for m in msgids if translate(m, "zh-CN") == m)
    assert untranslated == []


def test_messages_render_per_locale_with_labels():
    message = Message("{field} is required", field={"zh-CN": "客户名称", "en": "Name"})
    assert message.render("zh-CN") == "客户名称为必填项"
    assert message.render("en") == "Name is required"
    assert message.all_locales() == {"zh-CN": "客户名称为必填项", "en": "Name is required"}


def test_labels_fall_back_to_chinese():
    assert pick_label({"zh-CN": "客户"}, "en") == "客户"
    assert pick_label({"zh-CN": "客户", "en": "Customer"}, "en") == "Customer"


def test_every_message_of_the_built_in_plugins_is_translated_to_chinese():
    import importlib

    tool = _catalog_tool()
    catalogs = tool.plugin_catalogs()
    assert catalogs
    for plugin, _po_file in catalogs:
        importlib.import_module(plugin.name)  # loads its catalog, as the platform does
        msgids = tool.plugin_msgids(plugin)
        untranslated = sorted(m for m in msgids if translate(m, "zh-CN") == m)
        assert untranslated == [], plugin.name


def test_a_built_in_plugin_translates_shared_messages_as_the_core_does():
    """A plugin's catalog is added over the core's for every screen: a message both use must
    read the same, or the plugin would change the core's wording (e.g. "to" in a history)."""
    from babel.messages.pofile import read_po

    tool = _catalog_tool()
    with tool.PO_FILE.open("rb") as handle:
        core = {m.id: m.string for m in read_po(handle) if m.id}
    for _plugin, po_file in tool.plugin_catalogs():
        with po_file.open("rb") as handle:
            differing = [m.id for m in read_po(handle) if m.id in core and m.string != core[m.id]]
        assert differing == [], po_file.name
