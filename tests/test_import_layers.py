"""Imports between the project's packages go one way (issue 17: "no cycles").

Every `import pipelines...` in pipelines/ counts, module level or inside a function (a
deferred import still makes a cycle a newcomer trips over); only `if TYPE_CHECKING:` blocks
are skipped. A unit is a subpackage (`pipelines/local/`) or a root module
(`pipelines/config.py`).
"""

from __future__ import annotations

import ast
import graphlib
import itertools
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipelines"

# The engine runs a definition and knows nothing of the project around it: what it may
# import from outside pipelines/local/.
ENGINE_MAY_IMPORT = {"arns", "errors", "execution_variables"}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pipelines"


def _imports(path: Path, root: Path = ROOT) -> list[tuple[str, int]]:
    """(imported module, line) for every pipelines import outside TYPE_CHECKING blocks."""
    module = _module_name(path, root)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                # `from pipelines import arns` imports the module pipelines.arns.
                names = [f"{target}.{alias.name}" for alias in child.names]
                found.append((target, child.lineno))
                found.extend((name, child.lineno) for name in names if _is_module(name, root))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return [(name, line) for name, line in found if name.split(".")[0] == "pipelines"]


def _is_module(name: str, root: Path) -> bool:
    relative = Path(*name.split("."))
    return (root / relative.with_suffix(".py")).exists() or (root / relative).is_dir()


def _unit_edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _unit(_module_name(path, ROOT))
        for target, line in _imports(path):
            unit = _unit(target)
            if unit not in (source, "pipelines"):
                where = f"{path.relative_to(ROOT)}:{line} imports {target}"
                edges[(source, unit)].append(where)
    return edges


def test_no_import_cycle_between_packages():
    edges = _unit_edges()
    sorter = graphlib.TopologicalSorter()
    for source, target in edges:
        sorter.add(source, target)
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        # graphlib lists a cycle from dependency to dependent: read it the importing way.
        cycle = error.args[1][::-1]
        hops = [edges[(a, b)][0] for a, b in itertools.pairwise(cycle)]
        raise AssertionError(
            "import cycle " + " -> ".join(cycle) + ":\n  " + "\n  ".join(hops)
        ) from None


def test_the_engine_imports_nothing_of_the_project_around_it():
    outside = {
        where
        for (source, target), places in _unit_edges().items()
        if source == "local" and target not in ENGINE_MAY_IMPORT
        for where in places
    }
    assert not outside, "\n".join(sorted(outside))


def test_the_check_sees_a_deferred_import(tmp_path):
    """A cycle through an import inside a function counts (the ones that hid the old
    local -> triggers -> local cycle were all deferred)."""
    module = tmp_path / "pipelines" / "local" / "example.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pipelines.view import model\n"
        "def run():\n"
        "    from pipelines.app.runner import run_local\n"
        "    from pipelines import config\n",
        encoding="utf-8",
    )
    imported = [name for name, _ in _imports(module, tmp_path)]
    assert "pipelines.app.runner" in imported
    assert "pipelines.view" not in imported and "pipelines.view.model" not in imported


def test_no_import_cycle_between_modules():
    """Inside a package too: no module reaches itself through imports (a deferred import
    that dodges one at module level still counts)."""
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path, ROOT) for path in paths}
    sorter = graphlib.TopologicalSorter()
    places: dict[tuple[str, str], str] = {}
    for path in paths:
        source = _module_name(path, ROOT)
        for target, line in _imports(path):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target not in (source, "pipelines") and target in modules:
                sorter.add(source, target)
                places.setdefault((source, target), f"{path.relative_to(ROOT)}:{line}")
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        cycle = error.args[1][::-1]
        hops = [places[(a, b)] for a, b in itertools.pairwise(cycle)]
        raise AssertionError(
            "import cycle " + " -> ".join(cycle) + ":\n  " + "\n  ".join(hops)
        ) from None
