"""Project API keys: `tg-` plus 43 random URL-safe characters.

Only a SHA-256 of the secret is stored. A fast hash is the right one here: the
secrets are 256 random bits, so there is nothing to brute-force, and the gateway
hashes on every request."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "tg-"
DISPLAY_CHARS = 8


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[: len(PREFIX) + DISPLAY_CHARS]


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(8)}"
