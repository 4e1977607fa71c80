"""AES-GCM sealing and keyed-hash blind indexes (DATA-12).

A sealed value reads "gxe1:<key id>:<base64url(nonce + ciphertext + tag)>". The context (for a
column, "entity.field") is authenticated data, so a value copied into another column does not
open. A blind index is an HMAC of the normalized value: equal values match, nothing else shows.
Each key of the ring derives its own encryption and index keys (HKDF), so rotating the ring
rotates both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from guanxi.crypto.keyring import KeyRing

PREFIX = "gxe1:"
NONCE_BYTES = 12
BLIND_BYTES = 16  # 128 bits: collisions are not a practical concern, the column stays small


class KeyMissing(RuntimeError):
    """A value was sealed with a key that is not in the ring (the key file was replaced)."""


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def sealed_key_id(value: str) -> str | None:
    if not is_sealed(value):
        return None
    return value[len(PREFIX) :].split(":", 1)[0]


class Cipher:
    """Seals and opens with a key ring. With `reload` (the key file's loader), a ring changed
    on disk by `guanxi keys rotate` is picked up within a second by every running worker."""

    def __init__(
        self, ring: KeyRing, reload: Callable[[], tuple[KeyRing, float]] | None = None
    ) -> None:
        self.ring = ring
        self._reload = reload
        self._stamp = 0.0
        self._checked = time.monotonic()

    def refresh(self, force: bool = False) -> None:
        if self._reload is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < 1.0:
            return
        self._checked = now
        ring, stamp = self._reload()
        if stamp != self._stamp or ring.keys != self.ring.keys:
            self._stamp = stamp
            if ring != self.ring:
                self.ring = ring
                self.__dict__.pop("_aead", None)
                self.__dict__.pop("_index_keys", None)

    @property
    def current(self) -> str:
        return self.ring.current

    @cached_property
    def _aead(self) -> dict[str, AESGCM]:
        return {
            k: AESGCM(_derive(v, b"guanxi field encryption")) for k, v in self.ring.keys.items()
        }

    @cached_property
    def _index_keys(self) -> dict[str, bytes]:
        return {k: _derive(v, b"guanxi blind index") for k, v in self.ring.keys.items()}

    def seal(self, text: str, context: str = "") -> str:
        self.refresh()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.current].encrypt(nonce, text.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}{self.current}:{body}"

    def open(self, value: str, context: str = "") -> str:
        """The plain text of a sealed value; a value never sealed (data from before a field
        became sensitive) comes back as it is."""
        if not is_sealed(value):
            return value
        key_id, _sep, body = value[len(PREFIX) :].partition(":")
        aead = self._aead.get(key_id)
        if aead is None:  # rotated by another process since: read the ring again
            self.refresh(force=True)
            aead = self._aead.get(key_id)
        if aead is None:
            raise KeyMissing(f"value sealed with key {key_id!r}, which is not in the key ring")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except InvalidTag:
            raise KeyMissing(f"a value sealed with key {key_id!r} does not open") from None

    def blind(self, text: str, context: str) -> str:
        """The index of `text` under the current key."""
        return self._blind(self.current, text, context)

    def blinds(self, text: str, context: str) -> list[str]:
        """Its index under every key of the ring: what a lookup matches during a rotation."""
        self.refresh()
        return [self._blind(key_id, text, context) for key_id in self.ring.keys]

    def _blind(self, key_id: str, text: str, context: str) -> str:
        digest = hmac.new(
            self._index_keys[key_id], f"{context}\x00{text}".encode(), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest[:BLIND_BYTES]).decode().rstrip("=")
