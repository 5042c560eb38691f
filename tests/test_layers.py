"""The house's layers, over the import graph: no service imports another service's
code, and the shared package `tollgate/` (its CLI included) imports no service. The
services talk only through the contracts in protos/; the mock upstreams are a
development tool that nothing in a service imports.

Every import statement counts, at module level or inside a function: a function-level
import hides a dependency, it does not remove one."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("budget", "gateway", "metering", "router")


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def sources(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "_pb2" not in p.name)


def crossings(folder: str, allowed: str | None) -> list[str]:
    """Imports of `services.*` from the modules under `folder`, other than `allowed`."""
    found = []
    for path in sources(folder):
        for line, module in imports_of(path):
            parts = module.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] != allowed:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            if parts[0] == "tollgate_mocks" and folder.startswith("services"):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def test_no_service_imports_another_service() -> None:
    found = [line for name in SERVICES for line in crossings(f"services/{name}", name)]
    assert found == [], "services talk only through protos/:\n" + "\n".join(found)


def test_the_shared_package_imports_no_service() -> None:
    found = crossings("tollgate", None)
    assert found == [], "tollgate/ must not import a service:\n" + "\n".join(found)


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from services.budget import prices\n")
    assert list(imports_of(module)) == [(2, "services.budget")]
