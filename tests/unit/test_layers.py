"""The layout's promises, read from the source: a kernel of infrastructure, the lifecycle of
a task on it, one folder a feature over them, each in layers that import only downwards, few
modules at the top, no module of the service grown past a size a reader can hold, and few
split into fragments."""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
from functools import cache
from pathlib import Path

from receiver.devtools.layout import BENEATH, FEATURES, KERNEL, TOP, floors
from tests.sources import parsed

PACKAGE = Path(__file__).resolve().parents[2] / "receiver"

# The folders' floors and what each may use are declared once, in
# receiver/devtools/layout.py (`receiver dev reference` writes them out as
# docs/reference/folders.md): the kernel and the units beneath every feature (BENEATH, lowest
# first), one folder a feature over them with the features it declares (FEATURES), and the
# top (TOP). A folder is one unit, whole: none holds a part that stands beneath what the rest
# of it serves.

# Inside the lifecycle and inside each feature: the pure rules, the rows (SQL beside the
# function that runs it), the transactions (one transaction each) and the reads (`reads.py`, one
# snapshot each), then the edges (routes, workers, actions, the CometAPI client): each may
# use only what stands before it, in its own unit or in one beneath. The configuration and
# the wiring are read at the edges; the kernel has no roles, any of it may be used anywhere.
ROLES = ["rules", "rows", "transactions", "edges"]
MAX_TOP_LEVEL_MODULES = 5
MAX_LINES = 600  # one idea a module, whole: a flow reads better unsplit up to this
# ...and not cut short: a module under FRAGMENT_LINES is most often a piece of another's
# idea. Few stand alone (the entry point, a small destination, a rule of its own).
FRAGMENT_LINES = 50
MAX_FRAGMENTS = 15


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    """The folder a module belongs to: a unit beneath the features, a feature, or one of
    the top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "receiver"


def _role(module: str) -> int:
    """Where a module stands inside its unit: rules 0, rows 2, transactions and reads 3, the
    rest 4 (its edges)."""
    parts = module.split(".")
    if len(parts) > 2 and parts[2] in (*ROLES[:3], "reads"):
        return {"rules": 0, "rows": 2, "transactions": 3, "reads": 3}[parts[2]]
    return 4


@cache
def _known() -> frozenset[str]:
    return frozenset(_module_name(p) for p in PACKAGE.rglob("*.py"))


@cache  # read once a run: several tests ask for every module's imports
def _imports(path: Path) -> frozenset[str]:
    """Every module of the package `path` imports: at its top or inside a function, under
    TYPE_CHECKING or not, by an absolute name or a relative one."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:  # `from .. import x`: from the package `level - 1` folders up
                base = package.split(".")[: package.count(".") + 2 - node.level]
                source = ".".join([*base, *filter(None, [node.module])])
            for alias in node.names:  # a submodule by name, or a name of the module
                full = f"{source}.{alias.name}"
                found.add(full if full in _known() else source)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return frozenset(found & _known())


@cache
def _edges() -> frozenset[tuple[str, str]]:
    """(importing module, imported module) for every import of the package's own modules."""
    return frozenset(
        (_module_name(path), target)
        for path in PACKAGE.rglob("*.py")
        for target in _imports(path)
        if target != _module_name(path)
    )


def test_every_folder_is_beneath_the_features_a_feature_or_the_top() -> None:
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")} - {"receiver"}
    assert sorted(units - {*BENEATH, *FEATURES, *TOP}) == []


def test_the_declared_dependencies_have_no_cycle() -> None:
    done: set[str] = set()

    def visit(feature: str, path: tuple[str, ...]) -> None:
        assert feature not in path, " -> ".join((*path, feature))
        if feature not in done:
            for used in FEATURES[feature]:
                visit(used, (*path, feature))
            done.add(feature)

    for feature in FEATURES:
        visit(feature, ())


def _level(unit: str) -> int:
    """How high a unit stands: the units beneath the features in their order, then every
    feature (their own arrows are declared in FEATURES)."""
    return BENEATH.index(unit) if unit in BENEATH else len(BENEATH)


def _allowed(source: str, target: str) -> bool:
    a, b = _unit(source), _unit(target)
    if "receiver" in (a, b):
        return True
    if a in TOP:
        return b not in TOP or TOP.index(b) <= TOP.index(a)
    if b in TOP:
        return False
    if a == b:
        return _role(target) <= _role(source)
    if b == KERNEL:
        return True  # the kernel is beneath everything, any of it
    if a == KERNEL:
        return False  # the kernel is infrastructure (see below)
    # a unit lower down, or a declared feature; no higher in its unit than the importer
    lower = _level(b) < _level(a) or b in FEATURES.get(a, set())
    return lower and _role(target) <= _role(source)


def test_the_kernel_uses_nothing_above_it() -> None:
    """The kernel is infrastructure: none of its modules imports anything of the receiver
    outside the kernel. What it only counts or labels (the outbox's states, a downstream's
    label) its callers give it; the task's records are the lifecycle's."""
    above = sorted(
        f"{s} imports {t}" for s, t in _edges() if _unit(s) == KERNEL and _unit(t) != KERNEL
    )
    assert above == []


def test_imports_only_go_down() -> None:
    upward = sorted(f"{s} imports {t}" for s, t in _edges() if not _allowed(s, t))
    assert upward == []


def test_no_cycle_between_folders() -> None:
    """Every folder stands on one floor (receiver/devtools/layout.py's `floors`), and every
    import from one folder to another goes down to a lower floor: so no two folders import
    each other, however indirectly, and a folder never holds a part the rest of it stands
    on top of (as deliveries/ held the outbox's rules and rows, beneath the lifecycle)."""
    floor = floors()
    upward = sorted(
        f"{s} (floor {floor[a]}) imports {t} (floor {floor[b]})"
        for s, t in _edges()
        if (a := _unit(s)) != (b := _unit(t)) and "receiver" not in (a, b) and floor[b] >= floor[a]
    )
    assert upward == []


def test_the_service_never_imports_the_development_tools() -> None:
    offenders = sorted(
        s for s, t in _edges() if _unit(t) == "devtools" and _unit(s) not in ("cli", "devtools")
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


def _holds_code(path: Path) -> bool:
    """A module, or a package's `__init__.py` holding more than its docstring, imports and
    dunder names (`__all__`, `__version__`)."""
    if path.name != "__init__.py":
        return True
    for node in parsed(path).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        names = node.targets if isinstance(node, ast.Assign) else []
        if names and all(isinstance(n, ast.Name) and n.id.startswith("__") for n in names):
            continue
        return True
    return False


def test_few_fragments() -> None:
    """One idea a module, whole: a new module under FRAGMENT_LINES merges into the module of
    its idea (or another fragment does first). Migrations and packages' re-exports aside."""
    small = sorted(
        f"{path.relative_to(PACKAGE.parent)}: {n} lines"
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
        and _holds_code(path)
        and (n := len(path.read_text().splitlines())) < FRAGMENT_LINES
    )
    assert len(small) <= MAX_FRAGMENTS, small


def _is_rows(module: str) -> bool:
    parts = module.split(".")
    return (len(parts) > 2 and parts[2] == "rows") or module.startswith(
        ("receiver.lifecycle.rows", "receiver.kernel.store")
    )


def _is_rules(module: str) -> bool:
    parts = module.split(".")
    return (len(parts) > 2 and parts[2] == "rules") or module.startswith("receiver.lifecycle.rules")


def test_the_rows_take_no_decision() -> None:
    """The store only stores: of the rules, rows may use records (dataclasses, enums) and
    constants, never a rule; the decisions are made in the transactions."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if not _is_rows(_module_name(path)):
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.ImportFrom) and node.module and _is_rules(node.module):
                for alias in node.names:
                    obj = getattr(importlib.import_module(node.module), alias.name)
                    if inspect.isfunction(obj) or inspect.ismodule(obj):
                        found.append(f"{_module_name(path)} imports {node.module}.{alias.name}")
    assert sorted(found) == []


# What answers a request: the console, the agents' door, Runway's front door, and each
# feature's routes.
ANSWERING_UNITS = ("console", "agents", "runway_api")
ANSWERING_MODULES = ("api", "route", "page")


def test_what_answers_a_request_asks_a_story_not_the_store() -> None:
    """No `store.` where a request is answered: a page or an answer asks a story, or a
    read of its feature, which reads in one snapshot."""
    found = sorted(
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        if _unit(_module_name(path)) in ANSWERING_UNITS or path.stem in ANSWERING_MODULES
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Attribute)
        and (
            (isinstance(node.value, ast.Name) and node.value.id == "store")
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "store")
        )
    )
    assert found == []


def test_nothing_is_looked_up_on_the_service() -> None:
    """No service locator: what a story uses is a field or a parameter, made once at
    start-up (receiver/app/parts.py), never fetched from the service by a key."""
    from receiver.wiring.service import Service

    found = sorted(
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Attribute) and node.attr in ("part", "_parts")
    )
    assert found == []
    assert not hasattr(Service, "part")


MAX_PARAMETERS = 7


def test_no_function_takes_more_than_seven_parameters() -> None:
    """Settings travel as their section or a small frozen policy, not one by one (`self`
    and `cls` are not counted; `*args` and `**kwargs` count one each)."""
    crowded = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(parsed(path)):
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
    """Every write is a story run through `store.run`: the store's own methods are only the
    transaction, the snapshot, migrations and readiness, the work a process takes, space
    given back and closing, on each backend alike (PostgreSQL's where its extra is in)."""
    from receiver.kernel.store.sqlite.store import SqliteStore
    from receiver.kernel.store.store import Store

    backends: list[type] = [Store, SqliteStore]
    with contextlib.suppress(ModuleNotFoundError):  # the core install has no psycopg
        from receiver.kernel.store.postgres.store import PostgresStore

        backends.append(PostgresStore)
    for cls in backends:
        public = sorted(
            name
            for name, value in inspect.getmembers(cls)
            if not name.startswith("_") and inspect.isfunction(value)
        )
        assert len(public) <= MAX_STORE_METHODS, (cls.__name__, public)


LAYERS = ("rules", "rows", "transactions", "reads", "api")


def _misnamed(module: str, alias: str) -> bool:
    """An alias whose last word names a layer other than the imported module's own (its
    name, or the layer's folder it stands in), or a folder of the receiver other than the
    one the imported module stands in."""
    parts, last = module.split("."), alias.split("_")[-1]
    if last in LAYERS:
        return last not in (*parts[2:-1], parts[-1])
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return last in folders and last != parts[1]


def test_no_alias_names_another_layer_or_folder() -> None:
    """`transactions as downstream_rows` or `rows as reads` tells the reader the wrong thing: an
    alias may add what the module belongs to (`actions as task_actions`), never name
    another layer or folder."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                named = [(f"{node.module}.{a.name}", a.asname) for a in node.names if a.asname]
            elif isinstance(node, ast.Import):
                named = [(a.name, a.asname) for a in node.names if a.asname]
            else:
                continue
            found += [
                f"{_module_name(path)}: {module} as {alias}"
                for module, alias in named
                if module.startswith("receiver.") and _misnamed(module, alias)
            ]
    assert sorted(found) == []


# The modules that may take the whole service: where it is made and handed out (app/, the
# routes' dependencies) and the command line's operator actions, which make one of their
# own. Every feature takes the typed parts it uses.
WHOLE_SERVICE = {
    "receiver.app.asgi",
    "receiver.app.build",
    "receiver.app.deliver",
    "receiver.app.parts",
    "receiver.cli.offline",
    "receiver.wiring.dependencies",
}
# The modules that reach through the config for a section: where the parts are made and
# given; every other takes its section.
WHOLE_SETTINGS = {
    "receiver.app.deliver",
    "receiver.app.parts",
    "receiver.cli.runners",
    "receiver.wiring.dependencies",
}
# Where the application's state is read or written: its assembly, the routes' dependencies,
# and the development tools' own applications.
APP_STATE = {"receiver.app.asgi", "receiver.wiring.dependencies"}


def test_few_modules_take_the_whole_service_or_read_the_apps_state() -> None:
    service, settings, state = [], [], []
    for path in PACKAGE.rglob("*.py"):
        module, text = _module_name(path), path.read_text()
        if "receiver.wiring.service" in _imports(path) and module != "receiver.wiring.service":
            service.append(module)
        if "config.settings." in text:
            settings.append(module)
        if "app.state" in text and not module.startswith("receiver.devtools"):
            state.append(module)
    assert sorted(set(service) - WHOLE_SERVICE) == []
    assert sorted(set(settings) - WHOLE_SETTINGS) == []
    assert sorted(set(state) - APP_STATE) == []


# The seams of issue 81, held where they were last cut: the modules outside the task's
# lifecycle and outside the destinations that import them.
MAX_IMPORTERS = {"lifecycle": 50, "destinations": 8}


def test_few_modules_reach_into_the_lifecycle_and_the_destinations() -> None:
    edges = _edges()
    for unit, most in MAX_IMPORTERS.items():
        importers = sorted({s for s, t in edges if _unit(t) == unit and _unit(s) != unit})
        assert len(importers) <= most, (unit, importers)
