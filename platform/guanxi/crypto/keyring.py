"""The key ring: encryption keys live outside the database (settings or a 0600 key file).

A ring holds several keys by id; the current one seals new values, every one opens old values,
so a rotation can re-encrypt in batches while the CRM keeps working.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from guanxi.settings import Settings, SettingsError

KEY_BYTES = 32


@dataclass(frozen=True)
class KeyRing:
    current: str
    keys: dict[str, bytes]  # id -> 32 secret bytes, current first

    def ids(self) -> list[str]:
        return list(self.keys)

    def with_new_key(self) -> KeyRing:
        """A ring whose new current key is fresh random bytes; old keys stay to open old data."""
        used = {int(k[1:]) for k in self.keys if k.startswith("k") and k[1:].isdigit()}
        new_id = f"k{max(used, default=0) + 1}"
        keys = {new_id: secrets.token_bytes(KEY_BYTES), **self.keys}
        return KeyRing(new_id, keys)

    def without(self, key_id: str) -> KeyRing:
        if key_id == self.current:
            raise SettingsError(f"{key_id} is the current key and cannot be retired")
        return KeyRing(self.current, {k: v for k, v in self.keys.items() if k != key_id})

    def to_json(self) -> str:
        document = {
            "current": self.current,
            "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
        }
        return json.dumps(document, indent=2) + "\n"


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise SettingsError(f"{where}: a key must be base64 of exactly {KEY_BYTES} bytes")
    return raw


def parse_ring(text: str, where: str) -> KeyRing:
    try:
        document = json.loads(text)
        current = str(document["current"])
        keys = {str(k): _decode_key(str(v), where) for k, v in dict(document["keys"]).items()}
    except (ValueError, KeyError, TypeError) as error:
        raise SettingsError(f"{where}: not a Guanxi key ring ({error})") from None
    if current not in keys:
        raise SettingsError(f"{where}: the current key {current!r} is not in the ring")
    ordered = {current: keys[current], **{k: v for k, v in keys.items() if k != current}}
    return KeyRing(current, ordered)


def ring_from_env(value: str) -> KeyRing:
    """GUANXI_ENCRYPTION_KEY: one base64 key, or "id:base64,id:base64" (the first is current)."""
    if ":" not in value:
        return KeyRing("env", {"env": _decode_key(value, "GUANXI_ENCRYPTION_KEY")})
    keys: dict[str, bytes] = {}
    for part in value.split(","):
        key_id, _sep, key = part.strip().partition(":")
        keys[key_id] = _decode_key(key, "GUANXI_ENCRYPTION_KEY")
    return KeyRing(next(iter(keys)), keys)


def _private_temporary(path: Path, text: str) -> Path:
    """`text` in a new file beside `path`, readable by its owner only, flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return temporary


def write_ring(path: Path, ring: KeyRing) -> None:
    """Replace the key file atomically, readable by its owner only."""
    temporary = _private_temporary(path, ring.to_json())
    try:
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _create_ring_file(path: Path) -> None:
    """First use: a ring with one key, linked into place so racing workers agree on one."""
    ring = KeyRing("k1", {"k1": secrets.token_bytes(KEY_BYTES)})
    temporary = _private_temporary(path, ring.to_json())
    try:
        with suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


_PROCESS_RING = KeyRing("process", {"process": secrets.token_bytes(KEY_BYTES)})


def ring_loader(settings: Settings) -> Callable[[], tuple[KeyRing, float]] | None:
    """Re-reads the key file (for rotations by another process); None when keys come from
    the environment or live in the process."""
    path = settings.encryption_key_file
    if settings.encryption_key or path is None:
        return None

    def load() -> tuple[KeyRing, float]:
        stamp = path.stat().st_mtime
        return parse_ring(path.read_text(), str(path)), stamp

    return load


def load_ring(settings: Settings) -> KeyRing:
    """The ring from settings: the environment key wins, then the key file (created on first
    use); with neither (an embedded platform) a key that lives as long as the process."""
    if settings.encryption_key:
        return ring_from_env(settings.encryption_key)
    path = settings.encryption_key_file
    if path is None:
        return _PROCESS_RING
    if not path.exists():
        _create_ring_file(path)
    return parse_ring(path.read_text(), str(path))
