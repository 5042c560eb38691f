"""The Dockerfile and .dockerignore agree with the project: Python 3.11, the project
copied and pip-installed, a non-root user, the console script, a lean build context.

No Docker engine runs where the tests run: the files are read as plain text."""

from __future__ import annotations

import re
from pathlib import Path

from tests.composefile import PYPROJECT, ROOT, SCRIPT, _argv, dockerfile, final_stage, image_env
from tollgate.config import load_settings


def test_dockerfile_builds_on_python_311() -> None:
    stages: set[str] = set()
    for _, keyword, args in dockerfile():
        if keyword == "FROM":
            image, *alias = args.split()
            assert image in stages or image.startswith("python:3.11"), image
            stages.update(alias[1:] if alias and alias[0].upper() == "AS" else [])
    assert dockerfile() and dockerfile()[0][1] == "FROM"


def test_dockerfile_copies_the_project_and_pip_installs_it() -> None:
    copied: set[int] = set()
    installed = []
    for stage, keyword, args in dockerfile():
        sources = [a for a in args.split()[:-1] if not a.startswith("--")]
        if keyword == "COPY" and ("." in sources or "pyproject.toml" in sources):
            copied.add(stage)
        if keyword == "RUN" and re.search(r"pip install (?:[^&;|]* )?\.(?:\s|$)", args):
            installed.append(stage in copied)
    assert installed and all(installed), "no `pip install .` after copying the project"


def test_image_runs_as_a_non_root_user() -> None:
    users = final_stage("USER")
    assert users, "the final stage sets no USER: the services would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_image_sets_the_tollgate_home() -> None:
    home = image_env().get("TOLLGATE_HOME")
    assert home == "/var/lib/tollgate"
    assert load_settings(image_env()).home == Path(home), "the code no longer reads it"


def test_image_default_command_is_the_console_script() -> None:
    entrypoint = [_argv(a) for a in final_stage("ENTRYPOINT")]
    cmd = [_argv(a) for a in final_stage("CMD")]
    argv = (entrypoint[-1] if entrypoint else []) + (cmd[-1] if cmd else [])
    assert argv and argv[0] == SCRIPT and SCRIPT in PYPROJECT["project"]["scripts"], argv


def _docker_glob(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus `**`) as a regex."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] in "*?":
            regex, i = regex + ("[^/]*" if pattern[i] == "*" else "[^/]"), i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1].replace("[!", "[^"), end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins, and a pattern that matches a
    directory takes everything below it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        glob = _docker_glob(pattern.removeprefix("!").strip("/"))
        if any(glob.fullmatch(prefix) for prefix in prefixes):
            ignored = not pattern.startswith("!")
    return ignored


def test_build_context_holds_the_project_and_not_the_local_state() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = ["pyproject.toml"]
    for include in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        for package in ROOT.glob(include.rstrip("*") + "*/__init__.py"):
            needed += [
                str(p.relative_to(ROOT))
                for p in package.parent.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            ]
    assert any(n.startswith("tollgate/") for n in needed), "found no package to install"
    left_out = [path for path in needed if _ignored(path, patterns)]
    assert not left_out, f".dockerignore drops what `pip install .` needs: {left_out[:5]}"
    for local in (".venv/bin/python", ".git/HEAD", ".tollgate/tollgate.db", "tollgate/x.pyc"):
        assert _ignored(local, patterns), f"{local} would be sent to the build"
