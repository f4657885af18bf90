"""The files of the image's final base: what Python needs to run the relay, taken from a
Debian root file system that debootstrap made (deploy/build-here.sh).

Prints, one a line, the paths (relative to ROOT) to copy: the files of the Debian packages
`python3`, `ca-certificates` (the bundle OpenSSL and Python read), `netbase` (/etc/services,
/etc/protocols), `dash` (/bin/sh) and the C++ runtime, with those they depend on; less the
packages only an unused part of Python needs (the `nis`, `dbm`, `readline` and `curses`
modules) and the package manager; then the files no package owns that a running system
reads: users and groups, the CA bundle, the loader's cache.

    python3 deploy/runtime_files.py ROOT > files.txt
    tar -C ROOT --no-recursion -T files.txt -c | podman import - IMAGE
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# With the two libraries manylinux wheels may link besides glibc's (frozenlist's extension
# and protobuf's are C++) and which no package here depends on.
WANTED = ("python3", "ca-certificates", "netbase", "dash", "libstdc++6", "libgcc-s1")
# Not followed: the package manager (nothing installs at run time), OpenSSL's command line
# (the libraries are libssl3's; ca-certificates wants the command only to build the bundle),
# and the libraries of the standard library's modules the relay does not import (below).
LEFT_OUT = {
    "dpkg", "debconf", "perl-base", "coreutils", "openssl",
    "libnsl2", "libtirpc3", "libtirpc-common", "libgssapi-krb5-2", "libkrb5-3",
    "libk5crypto3", "libkrb5support0", "libkeyutils1", "libcom-err2",
    "libdb5.3", "libreadline8", "readline-common", "libncursesw6", "libtinfo6",
}  # fmt: skip
# Paths of kept packages that running Python never reads (glibc's charset converters, 8 MB:
# Python has its own codecs), and the modules whose libraries are left out above.
DROPPED = re.compile(
    r"usr/share/(doc|man|info|locale|lintian|bug|menu)(/|$)"
    r"|usr/lib/[^/]+-linux-gnu/gconv(/|$)"
    r"|usr/lib/python3\.\d+/(pydoc_data|test|idlelib|ensurepip|curses)(/|$)"
    r"|usr/lib/python3\.\d+/lib-dynload/(nis|_dbm|readline|_curses|_curses_panel)\."
)
# What no package owns but the system reads (made by maintainer scripts): users and
# groups, name service switch, hosts, the CA bundle and its hashed links, the loader's cache.
UNOWNED = (
    "etc/passwd", "etc/group", "etc/nsswitch.conf", "etc/hosts", "etc/ld.so.cache",
    "etc/ssl/certs", "usr/lib/ssl/cert.pem", "usr/lib/ssl/certs", "usr/lib/ssl/openssl.cnf",
)  # fmt: skip
# The merged /usr's links and the mount points a container engine and a chroot use.
TOP = ("bin", "sbin", "lib", "lib64", "dev", "proc", "sys", "tmp", "run", "etc", "usr", "var")
MERGED = re.compile(r"^(bin|sbin|lib|lib64)/")


def query(root: Path, *args: str) -> str:
    return subprocess.run(
        ["dpkg-query", f"--admindir={root}/var/lib/dpkg", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def dependencies(root: Path) -> dict[str, list[list[str]]]:
    """Each installed package's dependencies, as lists of alternatives."""
    found = {}
    for line in query(root, "-W", "-f", "${Package}\t${Pre-Depends}, ${Depends}\n").splitlines():
        package, _, needs = line.partition("\t")
        groups = (group.split("|") for group in needs.split(",") if group.strip())
        found[package] = [[re.split(r"[\s:(]", a.strip())[0] for a in g] for g in groups]
    return found


def needed_packages(root: Path) -> set[str]:
    installed = dependencies(root)
    kept: set[str] = set()
    todo = list(WANTED)
    while todo:
        package = todo.pop()
        if package in kept or package in LEFT_OUT or package not in installed:
            continue
        kept.add(package)
        for alternatives in installed[package]:
            present = [a for a in alternatives if a in installed]
            if present:
                todo.append(present[0])
    return kept


def package_paths(root: Path, packages: set[str]) -> set[str]:
    """The packages' paths under the merged /usr (/bin/sh is stored as usr/bin/sh), and the
    bytecode Debian compiled for their Python modules."""
    paths = set()
    for line in query(root, "-L", *sorted(packages)).splitlines():
        path = MERGED.sub(r"usr/\1/", line.strip().lstrip("/"))
        if path and path not in TOP and not DROPPED.match(path) and (root / path).exists():
            paths.add(path)
            if path.endswith(".py"):
                source = Path(path)
                cache = source.parent / "__pycache__"
                for compiled in (root / cache).glob(f"{source.stem}.*.pyc"):
                    paths.update((str(cache), str(cache / compiled.name)))
    return paths


def main() -> None:
    root = Path(sys.argv[1])
    paths = package_paths(root, needed_packages(root))
    for unowned in UNOWNED:
        if (root / unowned).is_dir() and not (root / unowned).is_symlink():
            paths.update(str(p.relative_to(root)) for p in (root / unowned).rglob("*"))
        if (root / unowned).exists() or (root / unowned).is_symlink():
            paths.add(unowned)
    # Parents before children, so that tar makes each directory with its own mode.
    top = [p for p in TOP if (root / p).exists() or (root / p).is_symlink()]
    parents = {str(p) for path in paths for p in Path(path).parents}
    print("\n".join(top + sorted((paths | parents) - set(top) - {"."})))


if __name__ == "__main__":
    main()
