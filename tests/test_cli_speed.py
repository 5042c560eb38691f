"""The CLI starts quickly because it imports only what a command uses. The times are
measured by bench/cli_startup.py (a timed assertion would be flaky on a loaded
machine); what is deterministic is checked here: which modules a command loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tollgate.cli.main import COMMANDS, build_parser

HEAVY = ("grpc", "sqlalchemy", "alembic", "tiktoken", "services")

PROBE = """
import contextlib, io, json, sys
from tollgate.cli.main import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
heavy = sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in %r})
print(json.dumps(heavy))
"""


def heavy_modules_loaded(*argv: str) -> list[str]:
    """The heavy top-level packages a `tollgate` process loaded to run argv."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


@pytest.mark.parametrize("argv", [["--help"], [], ["up", "--help"], ["health", "--help"]])
def test_help_imports_no_grpc_database_tokenizer_or_service(argv: list[str]) -> None:
    assert heavy_modules_loaded(*argv) == []


def test_a_health_check_loads_grpc_only(tmp_path: object) -> None:
    from tests.e2e.suite import free_port

    loaded = heavy_modules_loaded("health", "budget", "--addr", f"127.0.0.1:{free_port()}")
    assert loaded == ["grpc"]


def _listing(parser: object) -> list[tuple[str, str]]:
    actions = parser._subparsers._group_actions[0]._choices_actions  # type: ignore[attr-defined]
    return [(action.dest, action.help) for action in actions]


def test_the_quick_command_list_matches_what_the_modules_declare() -> None:
    """`tollgate --help` lists COMMANDS without importing their modules: it must say
    what the modules declare, name for name and help for help."""
    assert _listing(build_parser("")) == _listing(build_parser())
    assert [name for name, _ in _listing(build_parser())] == list(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_command_run_is_declared_in_full(name: str) -> None:
    """A command named on the line gets its real parser, not the listing's stand-in
    (which has no handler and no subcommands)."""
    chosen = build_parser(name)._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]
    assert chosen._defaults or chosen._subparsers is not None
    listed = build_parser("")._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]
    assert not listed._defaults and listed._subparsers is None
