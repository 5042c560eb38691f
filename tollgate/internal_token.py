"""Where the services' shared internal credential comes from.

TOLLGATE_INTERNAL_TOKEN when it is set (config.py refuses one shorter than 16
characters). Otherwise the file `TOLLGATE_HOME/internal_token` (mode 0600), which
`tollgate up` and the first `tollgate serve` to start create with
`secrets.token_urlsafe(32)`. The file is written under a name of its own (opened with
O_EXCL) and published by a hard link, which fails when the file already exists: the
services of one state folder, started at once, all end up with the one token that
was linked first, and nobody ever reads a half-written file.

The token is never logged, and no error message holds it.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from tollgate.config import MIN_INTERNAL_TOKEN_LENGTH, ConfigError, Settings

TOKEN_FILE = "internal_token"


def token_path(settings: Settings) -> Path:
    return settings.home / TOKEN_FILE


def _read(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: readable by others (mode {stat.S_IMODE(mode):o}); "
            f"`chmod 600 {path}` or set TOLLGATE_INTERNAL_TOKEN"
        )
    token = path.read_text().strip()
    if len(token) < MIN_INTERNAL_TOKEN_LENGTH:
        raise ConfigError(
            f"{path}: holds no usable internal token (at least {MIN_INTERNAL_TOKEN_LENGTH} "
            "characters); delete it to have a new one made, or set TOLLGATE_INTERNAL_TOKEN"
        )
    return token


def _create(path: Path) -> None:
    """Publish a new token at `path` unless a file is already there."""
    from tollgate.db.engine import make_private_dir  # not at import: it loads SQLAlchemy

    make_private_dir(path.parent)  # a new state folder is 0700, as the database makes it
    draft = path.with_name(f".{TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: its token is the one
    finally:
        draft.unlink(missing_ok=True)


def ensure_token_file(settings: Settings) -> str:
    """The state folder's token, made first when there is none yet."""
    path = token_path(settings)
    if not path.exists():
        _create(path)
    return _read(path)


def internal_token(settings: Settings, *, create: bool = True) -> str:
    """The credential this process presents and requires: the environment's, or else
    the state folder's (made when missing; with create=False, "" then)."""
    if settings.internal_token:
        return settings.internal_token
    if not create and not token_path(settings).exists():
        return ""
    return ensure_token_file(settings)
