"""`tollgate price import ...` and other price-catalogue commands beyond set/list."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this topic's commands to the `tollgate` parser (none yet)."""
