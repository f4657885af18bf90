"""The layout's promises, read from the source: folders form layers that import only
downwards, few modules sit at the top, and no module of the service grows past a size a
reader can hold."""

from __future__ import annotations

import ast
import importlib
import inspect
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
    # How a task changes, one story per module: the rules applied, the store told to write.
    "receiver.transitions",
    "receiver.pipeline",
    "receiver.web",
    # The process assembled: the service built, the web application and the workers started.
    "receiver.process",
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


def _imported_from(folder: Path, prefix: str) -> set[tuple[str, str, str]]:
    """(file, module, name) for every name imported from `prefix` under `folder` (`*`: the
    module itself)."""
    found = set()
    for path in folder.rglob("*.py"):
        rel = str(path.relative_to(PACKAGE.parent))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
                found.update((rel, node.module, alias.name) for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update((rel, a.name, "*") for a in node.names if a.name.startswith(prefix))
    return found


def test_the_store_takes_no_decision_of_the_domain() -> None:
    """The store only stores: of the domain it may use records (dataclasses, enums) and
    constants, never a rule; the decisions are made in receiver/transitions/."""
    rules = sorted(
        f"{path} imports {module}.{name}"
        for path, module, name in _imported_from(PACKAGE / "persist", "receiver.domain")
        if name == "*"
        or inspect.isfunction(obj := getattr(importlib.import_module(module), name))
        or inspect.ismodule(obj)
    )
    assert rules == []


def test_the_web_layer_asks_the_pipeline_not_the_store() -> None:
    """No `store.` under receiver/web/: a page or an answer asks the pipeline, or a query
    of receiver/transitions/queries.py, which reads in one snapshot."""
    found = sorted(
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in (PACKAGE / "web").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and (
            (isinstance(node.value, ast.Name) and node.value.id == "store")
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "store")
        )
    )
    assert found == []


MAX_PARAMETERS = 7


def test_no_function_takes_more_than_seven_parameters() -> None:
    """Settings travel as their section or a small frozen policy, not one by one (`self`
    and `cls` are not counted; `*args` and `**kwargs` count one each)."""
    crowded = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            given = node.args
            names = [a.arg for a in (*given.posonlyargs, *given.args, *given.kwonlyargs)]
            count = len(names) + (given.vararg is not None) + (given.kwarg is not None)
            count -= bool(names) and names[0] in ("self", "cls")
            if count > MAX_PARAMETERS:
                crowded.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    assert sorted(crowded) == []


MAX_STORE_METHODS = 8


def test_the_store_is_run_read_migrations_and_leases() -> None:
    """Every write is a story of receiver/transitions/ run through `store.run`: the store's
    own methods are only the transaction, the snapshot, migrations and readiness, the work a
    process takes, space given back and closing, on each backend alike."""
    from receiver.persist.postgres.store import PostgresStore
    from receiver.persist.sqlite.store import SqliteStore
    from receiver.persist.store import Store

    for cls in (Store, SqliteStore, PostgresStore):
        public = sorted(
            name
            for name, value in inspect.getmembers(cls)
            if not name.startswith("_") and inspect.isfunction(value)
        )
        assert len(public) <= MAX_STORE_METHODS, (cls.__name__, public)
