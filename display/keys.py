"""Board keys: generated at random, stored only as a salted HMAC, checked in constant time.

A board presents its key on every poll (thousands a second), so a slow password hash is out; keys
are therefore required to be long random strings (generated here, or at least
:data:`MIN_KEY_LENGTH` characters when an operator supplies one), which makes a fast keyed hash
safe.  The key itself is never stored or logged: it is shown once, when generated.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

MIN_KEY_LENGTH = 16
MAX_KEY_LENGTH = 128


def generate_key() -> str:
    """A new random key: 32 URL-safe characters (192 bits)."""
    return secrets.token_urlsafe(24)


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a board key, or None."""
    if len(key) < MIN_KEY_LENGTH:
        return f"must be at least {MIN_KEY_LENGTH} characters (leave it empty to generate one)"
    if len(key) > MAX_KEY_LENGTH:
        return f"must be at most {MAX_KEY_LENGTH} characters"
    if not key.isascii() or not key.isprintable() or " " in key:
        return "must be printable ASCII without spaces (it travels in a header or URL)"
    return None


def hash_key(key: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """(salt, digest) to store for ``key``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    return salt, hmac.digest(salt, key.encode(), "sha256")


def key_matches(presented: str | None, salt: bytes, digest: bytes) -> bool:
    if not presented:
        return False
    try:
        raw = presented.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(hmac.digest(salt, raw, "sha256"), digest)


def key_fingerprint(digest: bytes) -> str:
    """A short, non-reversible label for logs and pages: which key, never the key."""
    return hashlib.sha256(digest).hexdigest()[:8]
