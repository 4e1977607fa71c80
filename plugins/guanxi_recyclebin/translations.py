"""The plugin's zh-CN messages: its own catalog beside it, added to the platform's at import."""

from __future__ import annotations

from pathlib import Path

from guanxi.api import add_catalog

PO_FILE = Path(__file__).parent / "locale" / "zh_CN" / "LC_MESSAGES" / "guanxi_recyclebin.po"


def load() -> None:
    add_catalog("zh-CN", PO_FILE)
