"""Extract msgids from platform/ and merge them into the zh_CN catalog (keeps translations).

Usage: python scripts/update_catalog.py   — then translate the empty msgstr entries.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PO_FILE = ROOT / "platform/guanxi/locale/zh_CN/LC_MESSAGES/guanxi.po"


TEMPLATE_METHOD = [("**.html", "jinja2")]  # templates translate with t("English text")


def extracted_msgids(source: Path = ROOT / "platform") -> set[str]:
    keywords = {"_": None, "Message": None, "t": None}  # t: screens translate with s.t(...)
    found = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(str(source), keywords=keywords)
    }
    for templates in (ROOT / "themes", ROOT / "platform" / "guanxi" / "templates"):
        found |= {
            message if isinstance(message, str) else message[0]
            for _file, _line, message, _comments, _context in extract_from_dir(
                str(templates), method_map=TEMPLATE_METHOD, keywords={"t": None},
                options_map={"**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}},
            )
            if message
        }
    return found


def plugin_msgids(plugin: Path) -> set[str]:
    """A built-in plugin's messages: its Python modules and its templates."""
    found = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(plugin), keywords={"_": None, "Message": None, "t": None}
        )
    }
    templates = plugin / "templates"
    if templates.is_dir():
        found |= {
            message if isinstance(message, str) else message[0]
            for _file, _line, message, _comments, _context in extract_from_dir(
                str(templates), method_map=TEMPLATE_METHOD, keywords={"t": None},
                options_map={"**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}},
            )
            if message
        }
    return found


def plugin_catalogs() -> list[tuple[Path, Path]]:
    """(plugin directory, its zh_CN catalog) for every built-in plugin under plugins/."""
    return [
        (path, path / "locale" / "zh_CN" / "LC_MESSAGES" / f"{path.name}.po")
        for path in sorted((ROOT / "plugins").iterdir())
        if (path / "__init__.py").exists()
    ]


def write_catalog(po_file: Path, msgids: set[str], project: str) -> None:
    existing = Catalog(locale="zh_CN")
    if po_file.exists():
        with po_file.open("rb") as handle:
            existing = read_po(handle)
    catalog = Catalog(locale="zh_CN", project=project, charset="utf-8")
    for msgid in sorted(msgids):
        old = existing.get(msgid)
        catalog.add(msgid, old.string if old else "")
    po_file.parent.mkdir(parents=True, exist_ok=True)
    with po_file.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False, no_location=True)
    missing = [m.id for m in catalog if m.id and not m.string]
    print(f"{po_file.relative_to(ROOT)}: {len(catalog)} messages, {len(missing)} untranslated")
    for msgid in missing:
        print(f"  {msgid}")


def main() -> None:
    write_catalog(PO_FILE, extracted_msgids(), "guanxi")
    for plugin, po_file in plugin_catalogs():
        write_catalog(po_file, plugin_msgids(plugin), plugin.name)


if __name__ == "__main__":
    main()
