"""`tollgate alert ...`: budget and spike alerts and their webhook deliveries."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this topic's commands to the `tollgate` parser (none yet)."""
