"""How the tests hold together: no test module imports another (what two share lives
in a helper module or a conftest.py), and every test that starts the suite as
separate processes is marked e2e, so `-m "not e2e"` runs none of them."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import conftest as e2e_conftest

TESTS = Path(__file__).parent
STARTERS = {"start_suite", "start_replicated_suite"}


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def modules_of_tests() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def imported_modules(tree: ast.Module) -> set[str]:
    """Every module an import statement names, `from a import b` counted as a and a.b."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def starts_suite(node: ast.AST) -> bool:
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in STARTERS:
                return True
    return False


def suite_fixtures(conftest: Path) -> set[str]:
    """The fixtures a conftest.py defines that start the suite."""
    return {
        node.name
        for node in parsed(conftest).body
        if isinstance(node, ast.FunctionDef) and starts_suite(node)
    }


def requested(tree: ast.Module) -> set[str]:
    """The argument names of the module's test functions and fixtures."""
    return {
        arg.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for arg in node.args.args
    }


def marked_e2e(tree: ast.Module) -> bool:
    """Whether a module-level `pytestmark` names pytest.mark.e2e."""
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            return any(
                isinstance(n, ast.Attribute) and n.attr == "e2e" for n in ast.walk(node.value)
            )
    return False


@dataclass
class FakeItem:
    """As much of a pytest.Item as the e2e collection hook reads."""

    path: Path
    markers: list[str]

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.markers.append(marker.name)


def marked_by_hook(path: Path) -> bool:
    hook = getattr(e2e_conftest, "pytest_collection_modifyitems", None)
    item = FakeItem(path, [])
    if hook is not None:
        hook([item])
    return "e2e" in item.markers


def test_no_test_module_imports_another() -> None:
    found = []
    for path in [*modules_of_tests(), *TESTS.rglob("conftest.py")]:
        for name in sorted(imported_modules(parsed(path))):
            if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                found.append(f"{path.relative_to(TESTS)} imports {name}")
    assert not found, "move what they share into a helper module or conftest.py:\n" + "\n".join(
        found
    )


def test_every_module_that_starts_the_suite_is_marked_e2e() -> None:
    unmarked = []
    for path in modules_of_tests():
        tree = parsed(path)
        reasons = ["calls start_suite"] if starts_suite(tree) else []
        for conftest in [d / "conftest.py" for d in path.parents if d.is_relative_to(TESTS)]:
            if conftest.exists():
                via = suite_fixtures(conftest) & requested(tree)
                reasons += [f"uses {name} from {conftest.relative_to(TESTS)}" for name in via]
        if reasons and not (marked_e2e(tree) or marked_by_hook(path)):
            unmarked.append(f"{path.relative_to(TESTS)} ({', '.join(reasons)})")
    assert not unmarked, "mark these e2e (pytestmark = pytest.mark.e2e):\n" + "\n".join(unmarked)


def test_the_e2e_hook_marks_tests_under_tests_e2e_and_nothing_else() -> None:
    assert marked_by_hook(TESTS / "e2e" / "test_faults.py")
    assert not marked_by_hook(TESTS / "budget" / "test_budgets.py")
    assert not marked_by_hook(TESTS / "test_house.py")
