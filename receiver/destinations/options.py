"""A downstream's options, declared once: a setting marked `OPTION` (in its `Annotated`,
beside a `Field(description=...)`) is offered by the CLI as a flag and by the forms as an
input, each worded by its description. An option is a bool, a number, a short string, or a
`Literal` choice."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo


@dataclass(frozen=True)
class Option:
    """The mark of an offered setting. `forms`: False for one only the command line offers
    (a destination's own). `told`: how a downstream made with it set is told (`{}` its
    value); "": not told."""

    forms: bool = True
    told: str = ""


OPTION = Option()
CLI_ONLY = Option(forms=False)


@dataclass(frozen=True)
class Offered:
    """One option as a flag or an input shows it."""

    name: str
    description: str
    kind: type  # bool, int, float or str
    choices: tuple[str, ...]  # a Literal's; empty for any other
    nullable: bool  # unset is a value of its own (an input left empty unsets it)
    default: Any
    forms: bool
    told: str
    minimum: float | None  # the least value a number input takes, when its rule says one
    max_length: int | None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    @property
    def picks(self) -> tuple[str, ...]:
        """What a form's select offers: a Literal's choices or a bool's, with "" (unset)
        first where it may be unset; empty: an input typed in."""
        picks = self.choices or (("true", "false") if self.kind is bool else ())
        return ("", *picks) if picks and self.nullable else picks

    @property
    def step(self) -> str | None:
        """A number input's step; None: not a number."""
        return {int: "1", float: "any"}.get(self.kind)

    def shown(self, value: Any) -> str:
        """`value` as a form holds it."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


def _parts(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """The annotation's one type, whether None is allowed beside it, and the rules inside."""
    nullable, rules = False, []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *found = get_args(annotation)
            for rule in found:
                rules += rule.metadata if isinstance(rule, FieldInfo) else [rule]
        elif origin is Union or origin is types.UnionType:
            inner = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(inner) < len(get_args(annotation))
            if len(inner) != 1:
                raise TypeError(f"an option is one plain type, not {annotation}")
            annotation = inner[0]
        else:
            return annotation, nullable, rules


def _offered(name: str, info: FieldInfo, mark: Option) -> Offered:
    kind, nullable, rules = _parts(info.annotation)
    rules += info.metadata
    choices: tuple[str, ...] = ()
    if get_origin(kind) is Literal:
        choices, kind = tuple(str(c) for c in get_args(kind)), str
    if kind not in (bool, int, float, str):
        raise TypeError(f"option {name}: a bool, a number, a string or a Literal")
    if not info.description:
        raise TypeError(f"option {name}: its Field needs a description (its help)")
    # pydantic's rules (annotated_types' Ge, Gt, MaxLen), read by their one attribute.
    least = [r.ge for r in rules if getattr(r, "ge", None) is not None]
    above = [r.gt for r in rules if getattr(r, "gt", None) is not None]
    if not least and above and kind is int:
        least = [above[0] + 1]
    longest = [r.max_length for r in rules if getattr(r, "max_length", None) is not None]
    return Offered(
        name=name,
        description=info.description,
        kind=kind,
        choices=choices,
        nullable=nullable,
        default=info.get_default(call_default_factory=True),
        forms=mark.forms,
        told=mark.told,
        minimum=least[0] if least else None,
        max_length=longest[0] if longest else None,
    )


def offered(model: type[BaseModel]) -> tuple[Offered, ...]:
    """Every option `model` declares, in its fields' order."""
    found = []
    for name, info in model.model_fields.items():
        marks = [m for m in info.metadata if isinstance(m, Option)]
        if marks:
            found.append(_offered(name, info, marks[0]))
    return tuple(found)
