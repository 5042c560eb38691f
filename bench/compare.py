"""--compare REV: a second checkout of REV, to bench beside the working tree.

`git worktree add --detach` puts REV in a temporary directory; its suite runs with
PYTHONPATH and the working directory pointing there, on the same venv (the same
dependencies suffice). The worktree is removed on any exit, Ctrl-C included.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from suite import REPO, BenchError


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def checkout(rev: str) -> Iterator[tuple[Path, str]]:
    """A worktree of `rev` and its short commit id; removed afterwards."""
    commit = git("rev-parse", "--verify", "--short", f"{rev}^{{commit}}")
    parent = Path(tempfile.mkdtemp(prefix="tollgate-bench-rev-"))
    tree = parent / "tree"
    try:
        git("worktree", "add", "--detach", str(tree), commit)
        yield tree, commit
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
        )
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], capture_output=True)
