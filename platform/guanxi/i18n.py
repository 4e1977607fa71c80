"""zh-CN / en text: messages are English msgids translated through gettext catalogs (Babel)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
_LOCALE_DIR = Path(__file__).parent / "locale"
_extra_catalogs: dict[str, dict[str, str]] = {}


@cache
def _catalog(locale: str) -> dict[str, str]:
    po_file = _LOCALE_DIR / locale.replace("-", "_") / "LC_MESSAGES" / "guanxi.po"
    if not po_file.exists():
        return {}
    with po_file.open("rb") as handle:
        catalog = read_po(handle)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


def add_translations(locale: str, mapping: Mapping[str, str]) -> None:
    """Let a plugin contribute msgid -> text pairs for a locale."""
    _extra_catalogs.setdefault(locale, {}).update(mapping)


def add_catalog(locale: str, po_file: Path) -> None:
    """Let a plugin contribute its own gettext catalog (a .po beside its module); a missing
    file adds nothing (the English msgids show)."""
    if not po_file.exists():
        return
    with po_file.open("rb") as handle:
        catalog = read_po(handle)
    add_translations(locale, {m.id: m.string for m in catalog if m.id and m.string})


def translate(msgid: str, locale: str = DEFAULT_LOCALE) -> str:
    if locale == "en":
        return msgid
    return _extra_catalogs.get(locale, {}).get(msgid) or _catalog(locale).get(msgid) or msgid


class Message:
    """A translatable message with named parameters, rendered per locale when shown."""

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, **params: Any) -> None:
        self.msgid = msgid
        self.params = params

    def render(self, locale: str = DEFAULT_LOCALE) -> str:
        params = {key: _localized(value, locale) for key, value in self.params.items()}
        return translate(self.msgid, locale).format(**params)

    def all_locales(self) -> dict[str, str]:
        return {locale: self.render(locale) for locale in LOCALES}

    def __str__(self) -> str:
        return self.render(DEFAULT_LOCALE)

    def __repr__(self) -> str:
        return f"Message({self.msgid!r}, {self.params!r})"


_ = Message


def _localized(value: Any, locale: str) -> Any:
    """Labels ({"zh-CN": .., "en": ..}) pick the locale; lists of labels join per language;
    a nested Message renders in the same locale as the one it is part of."""
    if isinstance(value, Message):
        return value.render(locale)
    if isinstance(value, Mapping):
        return pick_label(value, locale)
    if isinstance(value, list | tuple) and all(isinstance(v, Mapping | str) for v in value):
        separator = "、" if locale.startswith("zh") else ", "
        return separator.join(pick_label(v, locale) for v in value)
    return value


def pick_label(label: Mapping[str, str] | str | None, locale: str = DEFAULT_LOCALE) -> str:
    """Choose the label for a locale from {"zh-CN": .., "en": ..}, falling back sensibly."""
    if label is None:
        return ""
    if isinstance(label, str):
        return label
    return (
        label.get(locale)
        or label.get(DEFAULT_LOCALE)
        or label.get("en")
        or next(iter(label.values()), "")
    )
