"""The layout's promises, read from the source: folders form layers that import only
downwards, few modules sit at the top, and no module of the service grows past a size a
reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "receiver"

# Bottom first. A folder (or top-level module) may import only what stands before it.
LAYERS = [
    "receiver.errors",
    "receiver.domain",
    # Logs and metrics: everything that touches text from outside scrubs it through here.
    "receiver.observability",
    "receiver.adapters",
    "receiver.config",
    "receiver.persist",
    "receiver.pipeline",
    "receiver.web",
    # Not the service: the simulator, sink and demo, which the command line can start.
    "receiver.devtools",
    "receiver.cli",
    "receiver.__main__",
]
MAX_TOP_LEVEL_MODULES = 5
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    """What the layering counts: `receiver.x` for anything in receiver/x/..."""
    return ".".join(module.split(".")[:2])


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "receiver":
                found.update(f"receiver.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("receiver.")}


def _edges() -> set[tuple[str, str, str]]:
    """(importing unit, imported unit, importing module) across units."""
    edges = set()
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        for target in _imports(path):
            if _unit(target) != _unit(module):
                edges.add((_unit(module), _unit(target), module))
    return edges


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")} - {"receiver"}
    assert sorted(units - set(LAYERS)) == []


def test_units_import_only_downwards() -> None:
    rank = {unit: i for i, unit in enumerate(LAYERS)}
    upward = sorted(
        f"{module} imports {target}"
        for source, target, module in _edges()
        if rank[target] >= rank[source]
    )
    assert upward == []


def test_the_service_never_imports_the_development_tools() -> None:
    offenders = sorted(
        module
        for source, target, module in _edges()
        if target == "receiver.devtools" and source not in ("receiver.cli",)
    )
    assert offenders == []


def test_few_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_no_module_of_the_service_is_too_long_to_read() -> None:
    long = sorted(
        f"{path.relative_to(PACKAGE.parent)}: {n} lines"
        for path in PACKAGE.rglob("*.py")
        if "devtools" not in path.parts and (n := len(path.read_text().splitlines())) > MAX_LINES
    )
    assert long == []
