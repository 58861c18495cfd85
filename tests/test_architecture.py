"""The floors of the package, read off the imports (AST): no module imports a higher floor, no floor's
units import each other, and there are no import cycles. docs/architecture.md shows this table."""

from __future__ import annotations

import ast
import importlib.util

import pytest

from tests.helpers.package import PACKAGE, all_modules, installed_packages, package_folders, source_file

# Lowest floor first. A module may import its own unit and the floors below; units that share a floor
# stay independent of each other.
FLOORS = (
    (
        "aib_deploy",
        "aib_deploy.errors",
        "aib_deploy.contract",
        "aib_deploy.files",
        "aib_deploy.compare",
        "aib_deploy.localization",
        "aib_deploy.timing",
        "aib_deploy.progress",
    ),
    ("aib_deploy.card",),
    ("aib_deploy.models",),
    ("aib_deploy.backends",),
    ("aib_deploy.runtime",),
    ("aib_deploy.media",),
    ("aib_deploy.protocol",),
    ("aib_deploy.export", "aib_deploy.serving"),
    ("aib_deploy.bench", "aib_deploy.demo", "aib_deploy.eval", "aib_deploy.perf"),
    ("aib_deploy.cli",),
    ("aib_deploy.__main__",),
)


def unit_of(module: str) -> tuple[int, str]:
    """(floor, unit) of a module: the longest unit name it is or lies under; the bare package is its own unit."""
    best = None
    for floor, units in enumerate(FLOORS):
        for unit in units:
            inside = module == unit or (unit != PACKAGE and module.startswith(unit + "."))
            if inside and (best is None or len(unit) > len(best[1])):
                best = (floor, unit)
    if best is None:
        raise AssertionError(f"{module} lies on no floor; add it to FLOORS and to the table in docs/architecture.md")
    return best


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def imported_modules(module: str) -> set[str]:
    """The aib_deploy modules `module` imports anywhere in its source (top level or inside functions)."""
    tree = ast.parse(source_file(module).read_text())
    package = module if source_file(module).name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if is_module(candidate) else base)
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


GRAPH = {module: imported_modules(module) for module in all_modules()}


def floor_problems(module: str, targets: set[str]) -> list[str]:
    floor, unit = unit_of(module)
    problems = []
    for target in sorted(targets):
        target_floor, target_unit = unit_of(target)
        if target_floor > floor:
            problems.append(f"{module} (floor {floor}) imports {target} (floor {target_floor}, higher)")
        elif target_floor == floor and target_unit != unit:
            problems.append(f"{module} imports {target}, its neighbour on floor {floor}")
    return problems


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_a_higher_floor_or_a_neighbour(module):
    assert floor_problems(module, GRAPH[module]) == []


def test_there_are_no_import_cycles():
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == "open":
                cycle = [*path[path.index(target) :], target] if target in path else [module, target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_the_checker_sees_violations():
    assert "aib_deploy.card.model_card" in GRAPH["aib_deploy.backends.onnxrt"]  # relative imports resolved
    assert floor_problems("aib_deploy.backends.onnxrt", {"aib_deploy.cli"})  # upwards
    assert floor_problems("aib_deploy.export.int8", {"aib_deploy.serving.server"})  # a neighbour
    assert not floor_problems("aib_deploy.export.int8", {"aib_deploy.export.qdq", "aib_deploy.errors"})
    assert floor_problems("aib_deploy.protocol.kserve", {"aib_deploy.serving.batcher"})  # the contract below its speakers
    assert not floor_problems("aib_deploy.export.triton", {"aib_deploy.protocol.triton_config"})


def test_every_package_folder_is_installed_and_checked():
    assert set(package_folders()) <= set(installed_packages()), "add the package to pyproject.toml's packages"
    assert {"aib_deploy.export.int8", "aib_deploy.serving.server", "aib_deploy.backends.tensorrt.runner"} <= set(GRAPH)
