"""What an operator action refuses, and the field at fault."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class AdminError(ValueError):
    """A request an operator can fix; the message says how, `param` names the field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class NotFound(AdminError, LookupError):
    """The project or key named does not exist."""


class AlreadyExists(AdminError):
    """The name is taken."""


def checked(param: str, check: Callable[..., T], *args: object) -> T:
    """`check(*args)`, its ValueError raised again as an AdminError naming `param`."""
    try:
        return check(*args)
    except AdminError:
        raise
    except ValueError as exc:
        raise AdminError(f"'{param}': {exc}", param) from None
