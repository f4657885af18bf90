"""The image's virtualenv, down to what runs: the Containerfile's build stage runs this with
the virtualenv's Python, after `pip install --no-compile`.

1. Removes what builds, types or tests a package and is never imported: the packages'
   `tests/` folders, C and Cython sources, headers, type stubs, protobuf sources; and the
   packages only a library's own command line needs (CEL's REPL: typer, rich,
   prompt_toolkit, pygments), with what only they need, and its scripts.
2. Keeps, of botocore's service models (about 20 MB: every AWS service), those of the
   services the relay's AWS destinations call and of those its credential providers call.
3. Compiles to bytecode what runs, once, since the image's root file system is read-only:
   every module of the packages the core relay needs (the `dependencies` of pyproject.toml,
   which load parts of themselves by name at start: uvicorn's protocols, anyio's backend),
   and of the extras' packages what importing every module of the relay imports, with each
   module it names in an import (an extra's are imported inside functions). The rest of an
   extra's package (redis' cluster commands, for one) gets none.

It fails, and the build with it, when a module of the relay or a package does not import
for another reason than an extra not chosen (a library missing next to an extension module,
a package's own dependency missing), or when the cel extra is installed and the relay does
not evaluate a filter and a transform with it.
"""

from __future__ import annotations

import ast
import asyncio
import compileall
import importlib
import importlib.metadata
import json
import pkgutil
import re
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

UNUSED_FILES = ("*.pyi", "*.pyx", "*.pxd", "*.pxi", "*.c", "*.h", "*.proto")
# botocore's credential providers: assumed roles and web identities (STS), AWS SSO and
# its token refresh, console logins.
CREDENTIAL_SERVICES = {"sts", "sso", "sso-oidc", "signin"}
RELAY = "runway-relay"
# Requirements of a library for its command line alone, not followed: the CEL package's
# `__init__` imports its REPL (cel/cli.py), which the relay never imports, loading the
# Rust evaluator alone (receiver/expressions/worker.py).
COMMAND_LINE_ONLY = {
    "common-expression-language": {"typer", "rich", "prompt-toolkit", "pygments"},
}
EXTRA_MARKER = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")
# A requirement's name and the extras it asks for: `psycopg[binary]>=3.1`.
REQUIREMENT = re.compile(r"\s*([^\s\[<>=!~;(]+)\s*(?:\[([^\]]*)\])?")


def site_packages() -> Path:
    return Path(next(p for p in sys.path if p.endswith("site-packages")))


def remove_unused_files(packages: Path) -> None:
    for tests in packages.glob("*/**/tests/"):
        if not tests.relative_to(packages).parts[0].endswith(".dist-info"):
            shutil.rmtree(tests)
    for pattern in UNUSED_FILES:
        for path in packages.rglob(pattern):
            path.unlink()


def aws_services() -> set[str]:
    """The services the relay's AWS destinations name (their `service`)."""
    import receiver.destinations
    from receiver.destinations.aws_client import AwsPublisher

    for module in pkgutil.iter_modules(receiver.destinations.__path__, "receiver.destinations."):
        importlib.import_module(module.name)

    found, todo = set(), list(AwsPublisher.__subclasses__())
    while todo:
        publisher = todo.pop()
        found.add(publisher.service)
        todo.extend(publisher.__subclasses__())
    return found


def prune_botocore_models(packages: Path) -> None:
    data = packages / "botocore" / "data"
    if not data.is_dir():
        return
    kept = aws_services() | CREDENTIAL_SERVICES
    for model in data.iterdir():
        if model.is_dir() and model.name not in kept:
            shutil.rmtree(model)
    from botocore.session import get_session

    session = get_session()
    for service in sorted(kept):  # each model kept still loads: a client is made offline
        session.create_client(
            service, region_name="us-east-1", aws_access_key_id="-", aws_secret_access_key="-"
        )


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(name: str, extras: set[str] | None) -> list[tuple[str, set[str]]]:
    """What distribution `name` requires, with `extras` of it (None: every extra), each
    with the extras it asks for: [(name, extras)]; none when it is not installed."""
    try:
        lines = importlib.metadata.requires(name) or []
    except importlib.metadata.PackageNotFoundError:  # an extra not chosen, another platform
        return []
    found = []
    for line in lines:
        requirement, _, marker = line.partition(";")
        extra = EXTRA_MARKER.search(marker)
        if extra and (extras is not None and normalized(extra.group(1)) not in extras):
            continue
        target = REQUIREMENT.match(requirement)
        if target:
            asked = {normalized(e) for e in (target.group(2) or "").split(",") if e.strip()}
            found.append((normalized(target.group(1)), asked))
    return found


def needed(roots: list[str], with_every_extra: bool = False) -> set[str]:
    """The distributions `roots` need, through their requirements and the extras each asks
    of another (with `with_every_extra`, every extra of the roots, as installed), less what
    a library's command line alone needs (COMMAND_LINE_ONLY)."""
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(normalized(root), set[str]()) for root in roots]
    every = {normalized(root) for root in roots} if with_every_extra else set()
    while todo:
        name, extras = todo.pop()
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        found.add(name)
        left_out = COMMAND_LINE_ONLY.get(name, set())
        for required in requirements(name, None if name in every else extras):
            if required[0] not in left_out:
                todo.append(required)
    return found


def core_distributions() -> set[str]:
    """The relay's distribution and every one its required dependencies pull in."""
    return needed([RELAY])


def command_line_only() -> set[str]:
    """The installed distributions only a library's command line needs (COMMAND_LINE_ONLY):
    none that the relay, with its extras installed, needs otherwise."""
    wanted = needed([RELAY], with_every_extra=True)
    lines = [name for library in wanted for name in COMMAND_LINE_ONLY.get(library, ())]
    return {name for name in needed(lines) - wanted if installed(name)}


def installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def remove_distribution(packages: Path, name: str) -> None:
    """What pip's uninstall does: each file its record lists goes, its folders once empty."""
    files = [Path(file.locate()) for file in importlib.metadata.distribution(name).files or []]
    for path in files:
        path.unlink(missing_ok=True)
    for folder in sorted({path.parent for path in files}, key=lambda p: -len(p.parts)):
        while folder.is_relative_to(packages) and folder != packages and folder.is_dir():
            if any(folder.iterdir()):
                break
            folder.rmdir()
            folder = folder.parent


def compile_core(packages: Path) -> None:
    for name in sorted(core_distributions()):
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in files:
            path = Path(file.locate())
            if path.suffix == ".py" and path.is_relative_to(packages) and path.exists():
                compileall.compile_file(str(path), quiet=1, force=True)


def relay_modules() -> set[str]:
    import receiver

    return {
        module.name
        for module in pkgutil.walk_packages(receiver.__path__, "receiver.")
        if not module.name.endswith("__main__")
    }


def named_modules() -> set[str]:
    """Each module the relay names in an import statement (or an attribute of one, which
    then does not import)."""
    import receiver

    names: set[str] = set()
    for source in Path(receiver.__path__[0]).rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_bytes(), str(source))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def absent(name: str, error: ModuleNotFoundError) -> bool:
    """Whether the import failed only because the module, or a package above it, is not
    installed (an extra not chosen, or `from package import attribute`)."""
    missing = error.name or ""
    return name == missing or name.startswith(missing + ".")


def raised_by_relay(error: ModuleNotFoundError) -> bool:
    """Whether the import that failed is the relay's own (a module of an extra not chosen,
    which the feature's modules import), not one inside an installed package."""
    import receiver

    files = [f.f_code.co_filename for f, _ in traceback.walk_tb(error.__traceback__)]
    own = [f for f in files if not f.startswith("<")]  # not importlib's frozen frames
    return bool(own) and Path(own[-1]).is_relative_to(receiver.__path__[0])


def import_modules() -> list[str]:
    """Imports every module of the relay and each one it names: those that fail other than
    for an extra not installed."""
    broken = []
    for name in sorted(relay_modules() | named_modules()):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not absent(name, exc) and not raised_by_relay(exc):
                broken.append(f"{name}: {exc!r}")
        except Exception as exc:
            broken.append(f"{name}: {exc!r}")
    return broken


def remove_command_lines(packages: Path) -> None:
    """The packages only a library's command line needs (COMMAND_LINE_ONLY), and its
    scripts, which could not run without them."""
    for name in sorted(command_line_only()):
        remove_distribution(packages, name)
    scripts = Path(sys.executable).parent
    for library in COMMAND_LINE_ONLY:
        if installed(library):
            distribution = importlib.metadata.distribution(library)
            for script in distribution.entry_points.select(group="console_scripts"):
                (scripts / script.name).unlink(missing_ok=True)
    importlib.invalidate_caches()


async def _evaluated(expressions: Any, source: str, event: dict[str, Any]) -> object:
    """What the relay's evaluator gives: a map's body as JSON (its keys in no fixed order),
    or a filter's verdict (matched, or why not)."""
    from receiver.expressions import pool
    from receiver.expressions.lines import OPERATOR  # the operator's own line in the pool

    try:
        if source.startswith("{"):
            _, shaped = await expressions.evaluate(None, source, event, OPERATOR)
            return None if shaped is None else json.loads(shaped.body)
        verdict, _ = await expressions.evaluate(source, None, event, OPERATOR)
        return verdict.matched or verdict.reason
    finally:
        pool.close()


def evaluate_expressions() -> list[str]:
    """With the cel extra, a filter and a transform evaluated as the relay evaluates them
    (which loads the library): what went wrong, if anything."""
    from receiver.expressions import evaluate as expressions
    from receiver.kernel.extras import installed as extra_installed

    if not extra_installed("cel"):
        return []
    event = {"type": "task.succeeded", "data": {"state": "succeeded", "outputs": ["a.mp4"]}}
    checks: dict[str, object] = {
        'event.data.state == "succeeded" && size(event.data.outputs) == 1': True,
        '{"kind": event.type, "first": event.data.outputs[0]}': {
            "kind": "task.succeeded",
            "first": "a.mp4",
        },
    }
    broken = []
    for source, expected in checks.items():
        try:
            got = asyncio.run(_evaluated(expressions, source, event))
        except Exception as exc:
            got = repr(exc)
        if got != expected:
            broken.append(f"CEL {source}: {got}, not {expected}")
    return broken


def main() -> None:
    sys.dont_write_bytecode = False  # the imports below write the bytecode
    sys.pycache_prefix = None
    packages = site_packages()
    remove_unused_files(packages)
    remove_command_lines(packages)
    compile_core(packages)
    broken = import_modules() + evaluate_expressions()
    if broken:
        sys.exit(
            "modules that do not import, or CEL that does not evaluate:\n  " + "\n  ".join(broken)
        )
    prune_botocore_models(packages)


if __name__ == "__main__":
    main()
