"""The image's virtualenv, down to what runs: the Containerfile's build stage runs this with
the virtualenv's Python, after `pip install --no-compile`.

1. Removes what builds, types or tests a package and is never imported: the packages'
   `tests/` folders, C and Cython sources, headers, type stubs, protobuf sources.
2. Keeps, of botocore's service models (about 20 MB: every AWS service), those of the
   services the relay's AWS destinations call and of those its credential providers call.
3. Compiles to bytecode what runs, once, since the image's root file system is read-only:
   every module of the packages the core relay needs (the `dependencies` of pyproject.toml,
   which load parts of themselves by name at start: uvicorn's protocols, anyio's backend),
   and of the extras' packages what importing every module of the relay imports, with each
   module it names in an import (an extra's are imported inside functions). The rest of an
   extra's package (pygments' 500 lexers, redis' cluster commands) gets none.

It fails, and the build with it, when a module of the relay or a package does not import
for another reason than an extra not chosen: a library missing next to an extension module,
a package's own dependency missing.
"""

from __future__ import annotations

import ast
import compileall
import importlib
import importlib.metadata
import pkgutil
import re
import shutil
import sys
import traceback
from pathlib import Path

UNUSED_FILES = ("*.pyi", "*.pyx", "*.pxd", "*.pxi", "*.c", "*.h", "*.proto")
# botocore's credential providers: assumed roles and web identities (STS), AWS SSO and
# its token refresh, console logins.
CREDENTIAL_SERVICES = {"sts", "sso", "sso-oidc", "signin"}
RELAY = "runway-relay"


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


def core_distributions() -> set[str]:
    """The relay's distribution and every one its required dependencies pull in."""
    found: set[str] = set()
    todo = [RELAY]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        found.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:  # not for this platform
            continue
        for line in requires:
            requirement, _, marker = line.partition(";")
            if not re.search(r"\bextra\s*==", marker):
                todo.append(re.split(r"[\s\[<>=!~;(]", requirement.strip())[0])
    return found


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


def main() -> None:
    sys.dont_write_bytecode = False  # the imports below write the bytecode
    sys.pycache_prefix = None
    packages = site_packages()
    remove_unused_files(packages)
    compile_core(packages)
    broken = import_modules()
    if broken:
        sys.exit("modules that do not import:\n  " + "\n  ".join(broken))
    prune_botocore_models(packages)


if __name__ == "__main__":
    main()
