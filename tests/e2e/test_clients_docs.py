"""docs/clients.md's snippets, run as a reader would run them: every python block
marked `<!-- tested -->` runs as its own program against the running suite, with
only OPENAI_BASE_URL and OPENAI_API_KEY (a new project's key) set, and the calls it
makes are billed to that project."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.openai_sdk_helpers import unique, wait_rows
from tests.e2e.suite import Suite, start_suite, stop_suite

DOC = Path(__file__).resolve().parents[2] / "docs" / "clients.md"
BLOCK = re.compile(r"^<!-- tested -->\n```python\n(.*?)^```$", re.M | re.S)


def snippets() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def _name(code: str) -> str:
    """The snippet's first imported package outside the standard library, for its id."""
    imported = re.findall(r"^(?:from|import) (\w+)", code, re.M)
    names = [m for m in imported if m not in sys.stdlib_module_names]
    return names[0] if names else "snippet"


SNIPPETS = snippets()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home = tmp_path_factory.mktemp("clients-docs")
    running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}")
    yield running
    stop_suite(running)


def test_the_doc_has_a_tested_snippet_for_each_client() -> None:
    names = [_name(code) for code in SNIPPETS]
    assert names == [
        "openai",
        "anthropic",
        "langchain_anthropic",
        "litellm",
        "agents",
        "llama_index",
        "instructor",
    ]


@pytest.mark.parametrize("code", SNIPPETS, ids=[_name(c) for c in SNIPPETS])
def test_a_snippet_runs_and_its_calls_are_billed(suite: Suite, code: str) -> None:
    for package in re.findall(r"^(?:from|import) (\w+)", code, re.M):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed (see pyproject's dev extra)")
    project, secret = suite.project_with_key(unique("docs"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=suite.base_url, OPENAI_API_KEY=secret)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()
    rows = wait_rows(suite, project, 1)
    assert rows and all(r.status == "ok" for r in rows)
    assert all(r.prompt_tokens > 0 and r.completion_tokens > 0 for r in rows)
