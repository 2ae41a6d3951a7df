"""Encryption at rest for sensitive personal information, and keyed hashes for lookup.

ID numbers are stored AES-256-GCM encrypted (random nonce, so equal numbers encrypt differently)
with an HMAC-SHA256 of the normalized number beside them for uniqueness and lookup. Keys come
from the environment:

- ``PORTAL_ENCRYPTION_KEYS``: comma-separated ``id:base64key`` pairs (32-byte keys). The first
  encrypts; all decrypt, so a new key is rotated in by putting it first and running
  ``python manage.py rotate_encryption_keys`` (README "Key management").
- ``PORTAL_LOOKUP_KEY``: the HMAC key. Changing it needs ``rotate_encryption_keys --rehash``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SEPARATOR = "$"
NONCE_BYTES = 12


def parse_key_specs(specs: list[str]) -> tuple[tuple[str, AESGCM], ...]:
    """PORTAL_ENCRYPTION_KEYS' ``id:base64`` entries as (id, cipher) pairs, the current first.

    A value names its key by id alone, so an id listed twice (a new key generated under the old
    one's id) would open the values sealed under one key with the other: every stored ID number
    would fail to decrypt, and rotation would take them all for current. Refused, like a key
    that is not 32 bytes of base64; the messages name keys by id, never the key itself.
    """
    pairs = []
    for item in specs:
        key_id, colon, encoded = item.partition(":")
        if not colon:  # no id: what stands before the colon would be the key itself
            raise ImproperlyConfigured(
                "PORTAL_ENCRYPTION_KEYS 中有一项缺少编号：每项应写作“编号:base64”"
            )
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"PORTAL_ENCRYPTION_KEYS 中的密钥 {key_id!r} 不是 base64 编码"
            ) from exc
        if not key_id or SEPARATOR in key_id or len(raw) != 32:
            raise ImproperlyConfigured(
                f"PORTAL_ENCRYPTION_KEYS 中的密钥 {key_id!r} 应写作“编号:base64”，密钥长 32 字节"
            )
        if any(key_id == listed for listed, _ in pairs):
            raise ImproperlyConfigured(
                f"PORTAL_ENCRYPTION_KEYS 中密钥编号 {key_id!r} 出现了不止一次：每个密钥须有"
                "自己的编号（新密钥用新编号，如 k2:…,k1:…）"
            )
        pairs.append((key_id, AESGCM(raw)))
    if not pairs:
        raise ImproperlyConfigured("PORTAL_ENCRYPTION_KEYS 为空")
    return tuple(pairs)


@cache
def _keys() -> tuple[tuple[str, AESGCM], ...]:
    return parse_key_specs(settings.PORTAL_ENCRYPTION_KEYS)


def current_key_id() -> str:
    return _keys()[0][0]


def key_ids() -> list[str]:
    """The ids of the keys listed, the current one first."""
    return [key_id for key_id, _ in _keys()]


def encrypt(plaintext: str) -> str:
    """``<key id>$<base64(nonce + ciphertext)>``."""
    key_id, aead = _keys()[0]
    nonce = os.urandom(NONCE_BYTES)
    sealed = aead.encrypt(nonce, plaintext.encode(), key_id.encode())
    return key_id + SEPARATOR + base64.b64encode(nonce + sealed).decode()


def decrypt(token: str) -> str:
    key_id, sep, payload = token.partition(SEPARATOR)
    if not sep:
        raise ValueError("not an encrypted value")
    aead = _aead(key_id)
    raw = base64.b64decode(payload)
    return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], key_id.encode()).decode()


def _aead(key_id: str) -> AESGCM:
    for candidate_id, aead in _keys():
        if candidate_id == key_id:
            return aead
    raise ImproperlyConfigured(f"no key {key_id!r} in PORTAL_ENCRYPTION_KEYS to decrypt with")


def encrypt_bytes(data: bytes) -> bytes:
    """Whole files (an uploaded roster): ``<key id>$`` then nonce and ciphertext, in bytes."""
    key_id, aead = _keys()[0]
    nonce = os.urandom(NONCE_BYTES)
    return key_id.encode() + SEPARATOR.encode() + nonce + aead.encrypt(nonce, data, key_id.encode())


def decrypt_bytes(blob: bytes) -> bytes:
    key_id, sep, sealed = blob.partition(SEPARATOR.encode())
    if not sep:
        raise ValueError("not encrypted bytes")
    aead = _aead(key_id.decode("ascii", "replace"))
    return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], key_id)


def key_id_of(token: str) -> str:
    return token.partition(SEPARATOR)[0]


@cache
def _lookup_hmac() -> hmac.HMAC:
    """The HMAC with its key already absorbed: each hash copies it (a roster hashes 100,000
    numbers, and keying a fresh HMAC costs more than hashing one)."""
    return hmac.new(settings.PORTAL_LOOKUP_KEY.encode(), digestmod=hashlib.sha256)


def lookup_hash(value: str) -> str:
    """A keyed hash: equal values match, and without the key nobody can test a guess."""
    mac = _lookup_hmac().copy()
    mac.update(value.encode())
    return mac.hexdigest()


def reset_key_cache() -> None:
    """Forget loaded keys (after settings change, in tests and during rotation)."""
    _keys.cache_clear()
    _lookup_hmac.cache_clear()


def generate_key_spec(key_id: str) -> str:
    """A fresh ``id:base64key`` for PORTAL_ENCRYPTION_KEYS."""
    return f"{key_id}:{base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip('=')}"
