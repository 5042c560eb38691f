"""`tollgate limit ...`: rate limits on projects and keys."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this topic's commands to the `tollgate` parser (none yet)."""
