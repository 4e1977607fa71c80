"""The plugin's zh-CN messages: its own catalog beside it, added to the platform's at import."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from guanxi.api import add_translations

PO_FILE = Path(__file__).parent / "locale" / "zh_CN" / "LC_MESSAGES" / "guanxi_sfa.po"


def load() -> None:
    if not PO_FILE.exists():
        return
    with PO_FILE.open("rb") as handle:
        catalog = read_po(handle)
    add_translations("zh-CN", {m.id: m.string for m in catalog if m.id and m.string})
