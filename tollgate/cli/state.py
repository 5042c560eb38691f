"""Which state folder (database, internal token, spool) a command uses.

In order: TOLLGATE_HOME when it is set (the operator's choice, used as given);
./.tollgate when it exists; else the folder of the `tollgate up` this user is running,
which `up` writes to a per-user file ($XDG_STATE_HOME/tollgate/running.json, by
default ~/.local/state/...) while it runs. Only the commands that make a suite's
state (`up`, `serve`, `db upgrade`) may create a new ./.tollgate: any other command
that finds none refuses, instead of silently starting an empty database whose keys
the running gateway has never seen.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

DEFAULT_HOME = ".tollgate"
RUNNING_FILE = "running.json"


class StateSource(StrEnum):
    ENVIRONMENT = "TOLLGATE_HOME"
    HERE = "./.tollgate"
    RUNNING_SUITE = "the running suite"


@dataclass(frozen=True)
class State:
    home: Path
    source: StateSource
    pid: int = 0  # of the `tollgate up` whose state it is (RUNNING_SUITE only)


class NoStateError(ValueError):
    """No state folder to use, and this command may not make one."""


def running_file(env: Mapping[str, str]) -> Path:
    """Where `tollgate up` says which state folder it serves, per user."""
    base = env.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if base else Path(env.get("HOME", "~")).expanduser() / ".local" / "state"
    return root / "tollgate" / RUNNING_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, though not ours to signal
    return True


def running_suite(env: Mapping[str, str]) -> State | None:
    """The state folder of the `tollgate up` this user runs, if one is running."""
    try:
        recorded = json.loads(running_file(env).read_text())
        home, pid = Path(recorded["home"]), int(recorded["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid <= 0 or not _alive(pid) or not home.is_dir():
        return None
    return State(home, StateSource.RUNNING_SUITE, pid)


def find_state(env: Mapping[str, str], cwd: Path) -> State | None:
    """The state folder a command should use, or None when there is none to use."""
    given = env.get("TOLLGATE_HOME", "").strip()
    if given:
        return State(Path(given).expanduser().resolve(), StateSource.ENVIRONMENT)
    here = cwd / DEFAULT_HOME
    if here.is_dir():
        return State(here.resolve(), StateSource.HERE)
    return running_suite(env)


def needs_no_state(env: Mapping[str, str]) -> bool:
    """True when the environment names everything a state folder would hold for a
    client command: the database and the internal credential."""
    return bool(
        env.get("TOLLGATE_DATABASE_URL", "").strip()
        and env.get("TOLLGATE_INTERNAL_TOKEN", "").strip()
    )


def no_state_message(cwd: Path) -> str:
    return (
        f"no tollgate state here ({cwd / DEFAULT_HOME} does not exist) and no running "
        "`tollgate up` found; run this in the folder where you ran `tollgate up`, or set "
        "TOLLGATE_HOME to its state folder (`tollgate up` or `tollgate db upgrade` make a "
        "new one)"
    )


def record_running_suite(env: Mapping[str, str], home: Path, pid: int, url: str) -> Path | None:
    """Say, in the per-user file, that `tollgate up` (pid) serves `home`; None when the
    file cannot be written (the suite runs anyway; other folders then need TOLLGATE_HOME)."""
    path = running_file(env)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = path.with_name(f".{RUNNING_FILE}.{pid}")
        draft.write_text(json.dumps({"home": str(home), "pid": pid, "url": url}) + "\n")
        draft.replace(path)
    except OSError:
        return None
    return path


def forget_running_suite(env: Mapping[str, str], pid: int) -> None:
    """Remove the per-user file if it still names this `tollgate up`."""
    path = running_file(env)
    try:
        if int(json.loads(path.read_text()).get("pid", 0)) == pid:
            path.unlink()
    except (OSError, ValueError, TypeError, AttributeError):
        pass
