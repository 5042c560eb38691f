"""The secrets read from the environment: the admin token, the internal credential
and the mutual-TLS files. A refusal's message never holds the value, even a bad one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tollgate.settings.model import ConfigError, GrpcTlsFiles

# The shortest TOLLGATE_INTERNAL_TOKEN accepted: anything shorter is guessable.
MIN_INTERNAL_TOKEN_LENGTH = 16
# The shortest TOLLGATE_ADMIN_TOKEN accepted: it opens every project's keys and money.
MIN_ADMIN_TOKEN_LENGTH = 16
GRPC_TLS_VARIABLES = ("TOLLGATE_GRPC_TLS_CERT", "TOLLGATE_GRPC_TLS_KEY", "TOLLGATE_GRPC_TLS_CA")


def internal_token(env: Mapping[str, str]) -> str:
    """TOLLGATE_INTERNAL_TOKEN, or "" (the services then use the state folder's file)."""
    token = env.get("TOLLGATE_INTERNAL_TOKEN", "").strip()
    if token and len(token) < MIN_INTERNAL_TOKEN_LENGTH:
        raise ConfigError(
            f"TOLLGATE_INTERNAL_TOKEN: must be at least {MIN_INTERNAL_TOKEN_LENGTH} characters; "
            "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token


def admin_token(env: Mapping[str, str]) -> str:
    """TOLLGATE_ADMIN_TOKEN, or "" (the admin API is off); a short one is refused."""
    token = env.get("TOLLGATE_ADMIN_TOKEN", "").strip()
    if token and len(token) < MIN_ADMIN_TOKEN_LENGTH:
        raise ConfigError(
            f"TOLLGATE_ADMIN_TOKEN: must be at least {MIN_ADMIN_TOKEN_LENGTH} characters "
            f"(it has {len(token)}), or unset to turn the admin API off; make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token


def grpc_tls(env: Mapping[str, str]) -> GrpcTlsFiles | None:
    """All three TOLLGATE_GRPC_TLS_* files, or none of them (plain-text gRPC)."""
    given = {name: env.get(name, "").strip() for name in GRPC_TLS_VARIABLES}
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise ConfigError(
            f"mutual TLS needs all of {', '.join(GRPC_TLS_VARIABLES)}; unset: " + ", ".join(missing)
        )
    paths = {name: Path(value).expanduser().resolve() for name, value in given.items()}
    for name, path in paths.items():
        if not path.is_file():
            raise ConfigError(f"{name}: {path} is not a readable file")
    cert, key, ca = (paths[name] for name in GRPC_TLS_VARIABLES)
    return GrpcTlsFiles(cert=cert, key=key, ca=ca)
