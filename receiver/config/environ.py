"""Every key of the file from the environment: `RECEIVER__<SECTION>__<KEY>` (tuning knobs
`RECEIVER__ADVANCED__<SECTION>__<KEY>`), over what the file says, so that a container needs
no file at all. The names come from the settings model, so a new key needs no change here.

A list or table (`trusted_proxies`, the whole `downstream` array) is JSON, as
pydantic-settings reads them; any other value is the text pydantic converts. A mistake is
one line naming the variable, never a traceback (JSON nested past `MAX_DEPTH` included).
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from receiver.config.names import ADVANCED
from receiver.config.settings import Settings

PREFIX = "RECEIVER__"
_COMPLEX = (list, dict, set, frozenset, tuple)
# No setting nests deeper than a downstream's tables in the array of downstreams (about 5).
MAX_DEPTH = 32


def _is_complex(annotation: Any) -> bool:
    """True when a field's value is a list, a table or a model: given as JSON."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_complex(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(_is_complex(a) for a in get_args(annotation) if a is not type(None))
    if origin in _COMPLEX or annotation in _COMPLEX:
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


@dataclass(frozen=True)
class Place:
    """Where a variable's value goes in the file's shape, and whether it is JSON."""

    path: tuple[str, ...]  # ("storage", "url"), ("advanced", "polling", "scan_seconds")
    is_json: bool

    @property
    def key(self) -> str:
        """The key as the settings model (and its error messages) name it: section.key."""
        return ".".join(self.path[-2:]) if len(self.path) > 1 else self.path[0]


def places() -> dict[str, Place]:
    """Every variable the settings model knows, by its name."""
    known: dict[str, Place] = {}
    for section, section_field in Settings.model_fields.items():
        model = section_field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            known[f"{PREFIX}{section.upper()}"] = Place((section,), True)  # the downstreams
            continue
        for key, key_field in model.model_fields.items():
            advanced = key in ADVANCED.get(section, ())
            path = ("advanced", section, key) if advanced else (section, key)
            name = PREFIX + "__".join(part.upper() for part in path)
            known[name] = Place(path, _is_complex(key_field.annotation))
    return known


@dataclass
class Overlay:
    """The file's data with the environment's values put over it, and what went wrong."""

    data: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    given: dict[str, str] = field(default_factory=dict)  # settings key -> variable name

    def source(self, problem: str) -> str:
        """A problem about a key the environment set, saying which variable set it."""
        for key, name in self.given.items():
            if problem.startswith(f"config key {key}:"):
                return problem.replace(f"config key {key}:", f"config key {key} (${name}):", 1)
        return problem


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    table = data
    for part in path[:-1]:
        inner = table.get(part)
        # A copy: never change the caller's tables.
        table[part] = dict(inner) if isinstance(inner, dict) else {}
        table = table[part]
    table[path[-1]] = value


def _depth(value: Any) -> int:
    """How deep lists and tables nest in `value`, counted without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            todo += [
                (inner, depth + 1) for inner in (item.values() if isinstance(item, dict) else item)
            ]
    return deepest


def _parsed(name: str, text: str, is_json: bool) -> tuple[Any, str | None]:
    """A variable's value as the settings take it, or why it cannot be (one line)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None, f"environment variable {name}: its value is not UTF-8 text"
    if not is_json:
        return text, None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None, (
            f"environment variable {name}: a list or table, written as JSON"
            ' (e.g. ["10.0.0.0/8"]), nested at most'
            f" {MAX_DEPTH} deep"
        )
    if _depth(value) > MAX_DEPTH:
        return None, f"environment variable {name}: its JSON nests more than {MAX_DEPTH} deep"
    return value, None


def overlay(data: Mapping[str, Any], environ: Mapping[str, str]) -> Overlay:
    """`data` (the file's, in its own shape) with every `RECEIVER__*` variable over it."""
    result = Overlay(dict(data))
    known = places()
    for name in sorted(n for n in environ if n.upper().startswith(PREFIX)):
        place = known.get(name.upper())
        if place is None:
            nearest = difflib.get_close_matches(name.upper(), list(known), n=1, cutoff=0.75)
            hint = f"; did you mean {nearest[0]}?" if nearest else ""
            result.problems.append(f"environment variable {name} names no config key{hint}")
            continue
        value, problem = _parsed(name, environ[name], place.is_json)
        if problem is not None:
            result.problems.append(problem)
            continue
        _put(result.data, place.path, value)
        result.given[place.key] = name
    return result
