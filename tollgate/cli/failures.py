"""The one line a command prints when it fails in a way an operator can expect.

A database that is down, a URL SQLAlchemy cannot read, a service that does not
answer, a setting or value refused: each is the operator's to fix, so each is one
line on stderr and a non-zero exit, never a traceback. Anything else is a bug and
keeps its traceback.

The errors of SQLAlchemy and gRPC are recognised by their class's module, so this
module imports neither: a command that never loaded them must not pay for them.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from types import TracebackType

from tollgate.config import ConfigError
from tollgate.money import MoneyError

# The exit status of a refused input or setting, and of an environment that fails.
USAGE_EXIT = 2
FAILURE_EXIT = 1

_PASSWORD = re.compile(r"(//[^:/@]*:)[^@/]*@")


def _database_url(env: Mapping[str, str]) -> str:
    """The configured database URL with any password masked."""
    url = env.get("TOLLGATE_DATABASE_URL", "").strip() or "the default SQLite database"
    return _PASSWORD.sub(r"\1***@", url)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _module_of(exc: BaseException) -> str:
    return type(exc).__module__ or ""


def _passes_through(tb: TracebackType | None, package: str) -> bool:
    while tb is not None:
        if f"{os.sep}{package}{os.sep}" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def _database_failure(exc: BaseException, env: Mapping[str, str]) -> str | None:
    url = _database_url(env)
    name = type(exc).__name__
    if _module_of(exc).startswith("sqlalchemy"):
        if name == "NoSuchModuleError" and "dialects:postgres" in str(exc):
            return (
                f"TOLLGATE_DATABASE_URL: {url} uses postgres://, which SQLAlchemy does not "
                "read; write postgresql:// (e.g. postgresql://user@host:5432/tollgate)"
            )
        if name in ("ArgumentError", "NoSuchModuleError"):
            return (
                f"TOLLGATE_DATABASE_URL: {url} is not a database URL tollgate can use "
                f"({_first_line(str(exc))}); use sqlite:///PATH or postgresql://..."
            )
        if name in ("OperationalError", "InterfaceError"):  # cannot connect, locked, ...
            cause = getattr(exc, "orig", None) or exc
            detail = _first_line(str(cause)) or name
            return f"the database at {url} (TOLLGATE_DATABASE_URL) cannot be used: {detail}"
        return None
    if isinstance(exc, ModuleNotFoundError) and _passes_through(exc.__traceback__, "sqlalchemy"):
        return (
            f"TOLLGATE_DATABASE_URL: {url} needs a driver that is not installed ({exc}); "
            "tollgate supports sqlite:///PATH and postgresql://..."
        )
    if _module_of(exc).startswith("alembic"):
        return f"the database at {url} cannot be migrated: {_first_line(str(exc))}"
    return None


def _service_failure(exc: BaseException) -> str | None:
    if not _module_of(exc).startswith("grpc") or not hasattr(exc, "code"):
        return None
    code = exc.code()
    details = _first_line(str(exc.details() or "")) if hasattr(exc, "details") else ""
    if code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return (
            f"a tollgate service is not reachable ({details or code.name}); "
            "start the suite with `tollgate up`, or check TOLLGATE_*_ADDR"
        )
    if code.name == "UNAUTHENTICATED":
        return (
            "the services refused this command's internal credential: use the running "
            "suite's state folder (TOLLGATE_HOME) or its TOLLGATE_INTERNAL_TOKEN"
        )
    return f"the service refused the call: {code.name}: {details}"


def explain(exc: BaseException, env: Mapping[str, str] | None = None) -> tuple[str, int] | None:
    """The line to print and the exit status for an expected failure; None for a bug."""
    env = os.environ if env is None else env
    if isinstance(exc, (ConfigError, MoneyError)):
        return str(exc), USAGE_EXIT
    message = _database_failure(exc, env) or _service_failure(exc)
    if message:
        return message, FAILURE_EXIT
    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{':' if where else ''}{where}", FAILURE_EXIT
    if isinstance(exc, ValueError):  # refused input: admin, money and argument checks
        return str(exc), USAGE_EXIT
    return None


def report(exc: BaseException) -> int | None:
    """Print the one line for an expected failure and give its exit status (None: a bug,
    let it raise)."""
    explained = explain(exc)
    if explained is None:
        return None
    message, code = explained
    print(f"tollgate: {message}", file=sys.stderr)
    return code
