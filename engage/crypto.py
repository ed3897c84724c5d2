"""Encryption of secrets at rest (access key secrets, channel credentials).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`. Keys come from ENGAGE_ENCRYPTION_KEYS;
the first key encrypts and every key decrypts, so keys can be rotated. Without configured keys,
one key is derived from SECRET_KEY with HKDF, so a fresh install is encrypted too.
"""

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class DecryptionError(Exception):
    """The ciphertext was not made with any configured key."""


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"engage-secrets-at-rest", info=b"fernet")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    raw = [k.encode() for k in keys] or [_derived_key(secret_key)]
    return MultiFernet([Fernet(k) for k in raw])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.ENGAGE_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    """Encrypt text with the current key; the result is ASCII and safe to store."""
    return _current().encrypt(plaintext.encode()).decode("ascii")


def decrypt(ciphertext: str) -> str:
    """Decrypt text made by encrypt(); raises DecryptionError when no key fits."""
    try:
        return _current().decrypt(ciphertext.encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError("secret cannot be decrypted with the configured keys") from exc


def generate_key() -> str:
    """A new random key for ENGAGE_ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode("ascii")
